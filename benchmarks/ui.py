"""Web UI benchmark: server time of each page over 10,000 runs of 100 params and 100 metrics.

    python benchmarks/ui.py                  # SQLite store, reused from $KILN_BENCH_UI_HOME
    python benchmarks/ui.py --runs 2000      # a smaller store

The store is filled once with bulk inserts (the tables ``log_batch`` fills)
and kept between runs in ``$KILN_BENCH_UI_HOME`` (default: the system temp
folder), since filling it takes a minute. Each page is fetched from a real
``kiln server`` (uvicorn in a thread) over loopback; the figure is the best
of 5 after one warm-up, measured by the server itself (the ``Server-Timing``
header Kiln sets) and, beside it, the full round trip. Target: 300 ms each.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import insert
from sqlalchemy.orm import Session

PARAMS = 100
METRICS = 100
HISTORY = 1_000  # points of the one metric with a full history, in the first run
CHUNK = 500
FILTER = "metrics.metric_001 > 0.5 and params.param_003 = '0.1'"
COLUMNS = ("params.param_000", "params.param_001", "metrics.metric_000", "metrics.metric_001")


def populate(home: Path, runs: int) -> None:
    """``runs`` runs in one experiment of project ``default``, plus a model with versions."""
    import kiln
    from kiln import registry
    from kiln.context import Context
    from kiln.db.tables import LatestMetricRow, MetricRow, ParamRow, RunRow, RunTagRow
    from kiln.tracking._experiments import create_experiment

    context = Context(kiln.config.Settings(home=home))
    db = context.db
    experiment = int(db.run(create_experiment, "default", "bench-ui").id)
    rng = random.Random(7)
    start = 1_700_000_000_000
    run_ids: list[str] = []
    for first in range(0, runs, CHUNK):
        rows: dict[Any, list[dict[str, object]]] = {
            table: [] for table in (RunRow, ParamRow, MetricRow, LatestMetricRow, RunTagRow)
        }
        for n in range(first, min(first + CHUNK, runs)):
            run_id = secrets.token_hex(16)
            run_ids.append(run_id)
            rows[RunRow].append(
                {
                    "id": run_id,
                    "experiment_id": experiment,
                    "name": f"run-{n}",
                    "status": "FINISHED",
                    "start_time": start + n * 1000,
                    "end_time": start + n * 1000 + 500,
                    "parent_run_id": None,
                    "user": "bench",
                    "lifecycle_stage": "active",
                    "failure": None,
                }
            )
            for p in range(PARAMS):
                value = str(rng.choice((0.3, 0.1, 0.03, 0.01)) if p % 2 else rng.randint(1, 500))
                rows[ParamRow].append(
                    {
                        "run_id": run_id,
                        "key": f"param_{p:03d}",
                        "value": value,
                        "value_prefix": value,
                    }
                )
            for m in range(METRICS):
                point = {
                    "run_id": run_id,
                    "key": f"metric_{m:03d}",
                    "value": rng.random(),
                    "is_nan": False,
                    "step": 0,
                    "timestamp": start + n * 1000 + 400,
                }
                rows[MetricRow].append(point)
                rows[LatestMetricRow].append(point)
            rows[RunTagRow].append(
                {"run_id": run_id, "key": "team", "value": "fraud", "value_prefix": "fraud"}
            )

        def write(session: Session, batch: dict[Any, list[dict[str, object]]] = rows) -> None:
            for table, values in batch.items():
                session.execute(insert(table), values)

        db.run(write)
    # One long curve (the compare and run pages chart it) on the first two runs.
    for run_id in run_ids[:2]:
        history = [
            {
                "run_id": run_id,
                "key": "loss",
                "value": 1.0 / (step + 1) + rng.random() * 0.01,
                "is_nan": False,
                "step": step,
                "timestamp": start + step,
            }
            for step in range(HISTORY)
        ]

        def write_history(session: Session, points: list[dict[str, object]] = history) -> None:
            session.execute(insert(MetricRow), points)
            session.execute(insert(LatestMetricRow), [points[-1]])

        db.run(write_history)
    kiln.configure(home=home)
    model_folder = home / "bench-model"
    if not model_folder.exists():
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
        kiln.models.save_model(model, model_folder)
    for _ in range(3):
        registry.register_model(model_folder, "bench-model")
    registry.set_alias("bench-model", "champion", 2)
    (home / "bench-ui.json").write_text(
        json.dumps({"runs": runs, "experiment": experiment, "run_ids": run_ids[:2]})
    )
    context.close()


def fetch(url: str) -> tuple[float, float, int]:
    """(server ms from Server-Timing, round-trip ms, bytes)."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = response.read()
        timing = response.headers.get("Server-Timing", "")
    total = (time.perf_counter() - started) * 1000
    server = total
    for part in timing.split(","):
        name, _, rest = part.strip().partition(";")
        if name == "app" and "dur=" in rest:
            server = float(rest.split("dur=")[1])
    return server, total, len(body)


def best(url: str, repeat: int = 5) -> dict[str, float]:
    fetch(url)
    samples = [fetch(url) for _ in range(repeat)]
    server = min(s[0] for s in samples)
    total = min(s[1] for s in samples)
    return {"server_ms": round(server, 1), "round_trip_ms": round(total, 1), "bytes": samples[0][2]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    root = Path(os.environ.get("KILN_BENCH_UI_HOME", Path(tempfile.gettempdir()) / "kiln-bench-ui"))
    home = root / f"runs-{args.runs}"
    seeded = time.perf_counter()
    if not (home / "bench-ui.json").exists():
        home.mkdir(parents=True, exist_ok=True)
        populate(home, args.runs)
    seed_seconds = round(time.perf_counter() - seeded, 1)
    meta = json.loads((home / "bench-ui.json").read_text())

    import kiln
    from kiln.context import Context
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    context = Context(kiln.config.Settings(home=home))
    first, second = meta["run_ids"]
    experiment = meta["experiment"]
    pages = {
        "home": "/",
        "experiments": "/experiments",
        "runs_table": f"/experiments/{experiment}",
        "runs_table_sorted_by_metric": f"/experiments/{experiment}?"
        + urlencode({"order": "metrics.metric_007 DESC"}),
        "runs_table_filtered": f"/experiments/{experiment}?" + urlencode({"filter": FILTER}),
        "runs_table_4_columns_100_rows": f"/experiments/{experiment}?"
        + urlencode([("size", 100), *(("col", c) for c in COLUMNS)]),
        "runs_table_page_100": f"/experiments/{experiment}?page=100",
        "compare_2_runs": f"/compare?runs={first},{second}",
        "run": f"/runs/{first}",
        "models": "/models",
        "model": "/models/bench-model",
        "search": "/search?q=run-99",
    }
    results: dict[str, Any] = {}
    with BackgroundServer(create_app(context)) as url:
        for name, path in pages.items():
            try:
                results[name] = best(url + path)
            except urllib.error.HTTPError as error:
                raise SystemExit(f"{name}: {path} answered {error.code}") from None
    context.close()
    print(
        json.dumps(
            {
                "benchmark": "ui",
                "runs": meta["runs"],
                "params_per_run": PARAMS,
                "metrics_per_run": METRICS,
                "store": "sqlite",
                "seed_seconds": seed_seconds,
                "target_server_ms": 300,
                "pages": results,
                "slowest_server_ms": max(r["server_ms"] for r in results.values()),
                "machine": {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
