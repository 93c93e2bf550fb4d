"""Tracking benchmark: per-call logging, many small runs, run creation; Kiln beside MLflow.

Prints one JSON object. When ``mlflow`` is importable, the same workloads run
through MLflow on a local SQLite store in the same process and the ratios are
printed. MLflow is slow enough per call that its workloads are smaller; the
comparison is made on throughput (operations per second), which does not
depend on the count.

Run: ``.venv/bin/python benchmarks/tracking.py``
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

KILN_METRIC_CALLS = 100_000
KILN_RUNS = 200
MLFLOW_METRIC_CALLS = 1_000
MLFLOW_RUNS = 40


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def kiln_workloads(home: Path) -> dict[str, float]:
    import kiln

    kiln.configure(home=home)
    kiln.set_experiment("bench")

    def metric_calls() -> None:
        with kiln.start_run(capture_environment=False):
            for step in range(KILN_METRIC_CALLS):
                kiln.log_metric("loss", 1.0 / (step + 1), step=step)
        # leaving the block flushes: everything is in the store when the timer stops

    def small_runs() -> None:
        for index in range(KILN_RUNS):
            with kiln.start_run(capture_environment=False):
                kiln.log_params({f"p{i}": index * i for i in range(5)})
                kiln.log_metrics({"auc": 0.5 + index / 1000, "loss": 1.0 / (index + 1), "f1": 0.3})

    def runs_with_environment() -> None:
        for _ in range(50):
            with kiln.start_run():
                kiln.log_param("x", 1)

    calls = timed(metric_calls)
    runs = timed(small_runs)
    env_runs = timed(runs_with_environment)
    kiln.get_context().close()
    return {
        "log_metric_calls": KILN_METRIC_CALLS,
        "log_metric_seconds": round(calls, 3),
        "log_metric_per_second": round(KILN_METRIC_CALLS / calls),
        "runs": KILN_RUNS,
        "runs_seconds": round(runs, 3),
        "runs_per_second": round(KILN_RUNS / runs, 1),
        "ms_per_run_with_environment_capture": round(env_runs / 50 * 1000, 2),
    }


def mlflow_workloads(home: Path) -> dict[str, float] | None:
    try:
        import mlflow
    except ImportError:
        return None
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{home / 'mlflow.db'}")
    mlflow.set_experiment("bench")  # migrations run here, outside the timers

    def metric_calls() -> None:
        with mlflow.start_run():
            for step in range(MLFLOW_METRIC_CALLS):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)

    def small_runs() -> None:
        for index in range(MLFLOW_RUNS):
            with mlflow.start_run():
                mlflow.log_params({f"p{i}": index * i for i in range(5)})
                mlflow.log_metrics(
                    {"auc": 0.5 + index / 1000, "loss": 1.0 / (index + 1), "f1": 0.3}
                )

    calls = timed(metric_calls)
    runs = timed(small_runs)
    return {
        "version": mlflow.__version__,
        "log_metric_calls": MLFLOW_METRIC_CALLS,
        "log_metric_seconds": round(calls, 3),
        "log_metric_per_second": round(MLFLOW_METRIC_CALLS / calls),
        "runs": MLFLOW_RUNS,
        "runs_seconds": round(runs, 3),
        "runs_per_second": round(MLFLOW_RUNS / runs, 1),
    }


def main() -> None:
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        }
    }
    with tempfile.TemporaryDirectory() as tmp:
        results["kiln"] = kiln_workloads(Path(tmp) / "kiln")
        peer = mlflow_workloads(Path(tmp))
    if peer is not None:
        results["mlflow"] = peer
        results["ratios"] = {
            "log_metric_throughput": round(
                results["kiln"]["log_metric_per_second"] / peer["log_metric_per_second"], 1
            ),
            "runs_throughput": round(
                results["kiln"]["runs_per_second"] / peer["runs_per_second"], 1
            ),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
