"""Run search over 10,000 runs; prints one JSON object to stdout.

    python benchmarks/search.py              # SQLite, and PostgreSQL if 127.0.0.1:5432 answers
    python benchmarks/search.py --runs 50000 --explain

Each run has 5 params, 3 metrics and 2 tags, written with bulk inserts (the
search reads the same tables ``log_batch`` fills). Every timing is the best
of 5 ``Database.read`` calls of ``search_runs``, the loading of the page's
runs included. The target is 50 ms for a filtered, ordered page on SQLite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from kiln.db import Database
from kiln.db.tables import LatestMetricRow, MetricRow, ParamRow, RunRow, RunTagRow
from kiln.tracking._experiments import create_experiment
from kiln.tracking._search import search_runs

PG_ADMIN = os.environ.get("KILN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FILTER = "metrics.auc > 0.8 and params.model = 'xgb' and tags.team = 'fraud'"
MODELS = ("xgb", "lgbm", "rf", "logreg", "mlp")
TEAMS = ("fraud", "risk", "growth", "ops")
CHUNK = 2000


def populate(db: Database, runs: int, experiments: int = 5) -> None:
    """``runs`` runs spread over ``experiments`` experiments of the default project."""
    rng = random.Random(7)
    ids = [int(db.run(create_experiment, "default", f"bench-{i}").id) for i in range(experiments)]
    start = 1_700_000_000_000
    for first in range(0, runs, CHUNK):
        rows: dict[Any, list[dict[str, object]]] = {
            table: [] for table in (RunRow, ParamRow, MetricRow, LatestMetricRow, RunTagRow)
        }
        for n in range(first, min(first + CHUNK, runs)):
            run_id = secrets.token_hex(16)
            rows[RunRow].append(
                {
                    "id": run_id,
                    "experiment_id": ids[n % experiments],
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
            params = {
                "model": rng.choice(MODELS),
                "lr": str(rng.choice((0.3, 0.1, 0.03, 0.01))),
                "max_depth": str(rng.randint(2, 12)),
                "n_estimators": str(rng.choice((100, 200, 500))),
                "seed": str(n),
            }
            for key, value in params.items():
                rows[ParamRow].append(
                    {"run_id": run_id, "key": key, "value": value, "value_prefix": value}
                )
            metrics = {
                "auc": rng.uniform(0.5, 1.0),
                "loss": rng.uniform(0.0, 2.0),
                "accuracy": rng.uniform(0.6, 1.0),
            }
            for key, number in metrics.items():
                nan = rng.random() < 0.01
                point: dict[str, object] = {
                    "run_id": run_id,
                    "key": key,
                    "value": 0.0 if nan else number,
                    "is_nan": nan,
                    "step": 10,
                    "timestamp": start + n * 1000 + 400,
                }
                rows[MetricRow].append(point)
                rows[LatestMetricRow].append(point)
            for key, value in (("team", rng.choice(TEAMS)), ("stage", rng.choice(("dev", "prod")))):
                rows[RunTagRow].append(
                    {"run_id": run_id, "key": key, "value": value, "value_prefix": value}
                )

        def write(session: Session, batch: dict[Any, list[dict[str, object]]] = rows) -> None:
            for table, values in batch.items():
                session.execute(insert(table), values)

        db.run(write)


def best_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()  # warm the connection pool and the page cache
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return round(min(times) * 1000, 2)


def measure(db: Database, explain: bool) -> dict[str, object]:
    def search(**kwargs: Any) -> Callable[[], object]:
        def call() -> object:
            runs, _ = db.read(search_runs, "default", [], **kwargs)
            return runs

        return call

    filtered = search(filter_string=FILTER, order_by=["metrics.auc DESC"], max_results=100)
    matches = len(db.read(search_runs, "default", [], filter_string=FILTER, max_results=50_000)[0])
    results: dict[str, object] = {
        "filter": FILTER,
        "filter_matches": matches,
        "filtered_ordered_page_100_ms": best_ms(filtered),
        "unfiltered_first_page_100_ms": best_ms(search(max_results=100)),
        "unfiltered_by_metric_page_100_ms": best_ms(
            search(order_by=["metrics.auc DESC"], max_results=100)
        ),
        "unfiltered_first_page_1000_ms": best_ms(search()),
        "by_param_page_100_at_offset_5000_ms": best_ms(lambda: _deep_page(db, ["params.model"])),
    }
    if explain:
        results["plan"] = _plan(db)
    return results


def _deep_page(db: Database, order: list[str]) -> object:
    """The page at offset 5,000 of a whole-store listing (what late pages cost)."""
    from kiln.tracking._search import _fingerprint, _token
    from kiln.tracking._search_parse import RUNS, parse_order_by

    fingerprint = _fingerprint(
        "runs", "default", [], None, parse_order_by(order, RUNS), "active_only"
    )
    token = _token(5000, fingerprint)
    return db.read(search_runs, "default", [], order_by=order, max_results=100, page_token=token)


def _plan(db: Database) -> list[str]:
    """SQLite's EXPLAIN QUERY PLAN of the filtered search's id query."""
    from sqlalchemy import select

    from kiln.db.tables import ExperimentRow
    from kiln.tracking._search_parse import RUNS, parse_filter, parse_order_by
    from kiln.tracking._search_sql import order_runs, run_condition

    node = parse_filter(FILTER, RUNS)
    assert node is not None
    query = order_runs(
        select(RunRow.id)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .where(ExperimentRow.project_id == 1, run_condition(node, db.dialect)),
        parse_order_by(["metrics.auc DESC"], RUNS),
        db.dialect,
    ).limit(101)
    with db.engine.connect() as connection:
        compiled = query.compile(connection, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
        rows = connection.exec_driver_sql(prefix + str(compiled)).all()
    return [" | ".join(str(c) for c in row) for row in rows]


def postgres_url() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return None
    import psycopg

    name = f"kiln_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN.rpartition('/')[0]}/{name}"


def drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


def bench(url: str, runs: int, explain: bool) -> dict[str, object]:
    db = Database(url)
    try:
        started = time.perf_counter()
        populate(db, runs)
        if db.dialect == "postgresql":
            with db.engine.connect() as connection:
                connection.exec_driver_sql("ANALYZE")
                connection.commit()
        populate_s = round(time.perf_counter() - started, 2)
        return {"runs": runs, "populate_s": populate_s, **measure(db, explain)}
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--explain", action="store_true", help="include the query plans")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "target_ms": 50,
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = bench(f"sqlite:///{tmp}/bench.db", args.runs, args.explain)
    pg = None if args.no_postgres else postgres_url()
    if pg:
        try:
            results["postgres"] = bench(pg, args.runs, args.explain)
        finally:
            drop_postgres(pg)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
