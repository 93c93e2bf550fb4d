"""Pipeline overhead: a 10-step linear pipeline passing a 1,000-row DataFrame; prints JSON.

    python benchmarks/pipelines.py
    python benchmarks/pipelines.py --repeats 20 --parallel --ray

Every step is trivial (add one to a column), so the figures are Kiln's own
cost per run: building the DAG, hashing sources, cache lookups, one Parquet
blob per step, and the run and step records (SQLite, local artifact folder).

- ``first_run``: a run whose cache is empty (each repeat uses a new seed, so
  every step misses), in a process where the store exists and pandas and
  pyarrow are imported. Target: 0.5 s.
- ``cached_rerun``: the same run again, every step a cache hit. Target: 0.2 s.
- ``cold_first_run``: the very first run in a fresh interpreter, including
  importing Kiln, pandas and pyarrow and creating the store.
- with ``--parallel``, the same on the parallel runner (workers started).
- with ``--ray`` (and Ray installed), the same on the Ray runner over a local
  Ray instance of 2 CPUs, started and warmed up first (``ray_start_s`` is what
  starting it took). Run as a script, the steps live in ``__main__``, so they
  travel to the Ray workers by value (cloudpickle).

ZenML and Metaflow are measured side by side only when they are installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kiln.config import Settings
from kiln.context import Context
from kiln.pipelines import ParallelRunner, Runner, pipeline, step

STEPS = 10
ROWS = 1_000


@step
def make(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.random((rows, 5)), columns=[f"c{i}" for i in range(5)])


@step
def bump(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(c0=frame["c0"] + 1)


@pipeline
def chain(rows: int = ROWS, seed: int = 0) -> Any:
    frame = make(rows, seed)
    for _ in range(STEPS - 1):
        frame = bump(frame)
    return frame


def timed_runs(context: Context, runner: str | Runner, repeats: int, seed0: int) -> dict[str, Any]:
    first, cached = [], []
    for index in range(repeats):
        params = {"seed": seed0 + index}
        started = time.perf_counter()
        run = chain.run(params, runner=runner, context=context)
        first.append(time.perf_counter() - started)
        assert not any(s.cached for s in run.steps)
        started = time.perf_counter()
        run = chain.run(params, runner=runner, context=context)
        cached.append(time.perf_counter() - started)
        assert all(s.cached for s in run.steps)
    return {
        "first_run_s": round(statistics.median(first), 4),
        "first_run_best_s": round(min(first), 4),
        "cached_rerun_s": round(statistics.median(cached), 4),
        "cached_rerun_best_s": round(min(cached), 4),
    }


def cold_first_run() -> float:
    """Seconds for the first run in a fresh interpreter (imports and store creation included)."""
    code = (
        "import sys, time, tempfile; started = time.perf_counter(); "
        f"sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        "import pipelines as b; from kiln.config import Settings; "
        "from kiln.context import Context; "
        "b.chain.run(context=Context(Settings(home=tempfile.mkdtemp()))); "
        "print(time.perf_counter() - started)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    return round(float(result.stdout.strip().splitlines()[-1]), 4)


def ray_runs(context: Context, repeats: int) -> dict[str, Any]:
    """The Ray runner on a local 2-CPU Ray instance, or why it was not measured."""
    if importlib.util.find_spec("ray") is None:
        return {"skipped": "ray is not installed (pip install 'kiln-ml[ray]')"}
    from kiln.pipelines import RayRunner

    # Quiet and self-contained: no usage statistics, and a token of this process's own
    # instead of one written to ~/.ray (Ray reads these when it is imported).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    started = time.perf_counter()
    with RayRunner(num_cpus=2, include_dashboard=False, log_to_driver=False) as runner:
        ray_start = time.perf_counter() - started
        chain.run({"seed": 999_997}, runner=runner, context=context)  # start the workers
        figures = timed_runs(context, runner, repeats, 2000)
    return {"ray_start_s": round(ray_start, 2), **figures}


def others() -> dict[str, str]:
    found = {}
    for name in ("zenml", "metaflow"):
        found[name] = "installed" if importlib.util.find_spec(name) else "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--parallel", action="store_true", help="also measure the parallel runner")
    parser.add_argument("--ray", action="store_true", help="also measure the Ray runner")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        context = Context(Settings(home=home))
        chain.run({"seed": 999_999}, context=context)  # create the store, import everything
        report: dict[str, Any] = {
            "benchmark": "pipelines",
            "python": platform.python_version(),
            "machine": platform.machine(),
            "steps": STEPS,
            "rows": ROWS,
            "repeats": args.repeats,
            "sequential": timed_runs(context, "sequential", args.repeats, 0),
        }
        if args.parallel:
            with ParallelRunner(max_workers=2) as runner:
                chain.run({"seed": 999_998}, runner=runner, context=context)  # start the workers
                report["parallel"] = timed_runs(context, runner, args.repeats, 1000)
        if args.ray:
            report["ray"] = ray_runs(context, args.repeats)
        context.close()
    report["sequential"]["cold_first_run_s"] = cold_first_run()
    report["others"] = others()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
