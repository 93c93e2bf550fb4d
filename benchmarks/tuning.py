"""Tuning benchmark: what kiln.tune adds to each trial (tracking and storage), beside Optuna.

Prints one JSON object. Each figure is a marginal cost: a study of
``SMALL`` trials and one of ``LARGE`` trials are timed and the difference is
divided by ``LARGE - SMALL``, so the fixed costs (the study's run, its
report and plots) drop out. The objective does nothing, so what is left is
the cost of a trial itself (``report=False``: the importances and plots at
the end are timed apart, once, as ``report_seconds``):

- ``kiln``: ``kiln.tune`` on the embedded SQLite store — each trial a study
  row and a child run with its parameters, value and duration;
- ``optuna_in_memory``: Optuna's ask/tell loop with its in-memory storage
  (no persistence: the floor);
- ``optuna_rdb_sqlite``: Optuna with its own RDBStorage on SQLite (the
  persistent peer; it keeps no runs).

Overhead = kiln - optuna_in_memory, per sampler (random: the sampler costs
nothing; TPE: what people use). The target is at most 20 ms per trial.
A second part times 2 local worker processes against 1 on trials that
sleep 50 ms. Ray Tune is measured when ``ray.tune`` imports.

Run: ``.venv/bin/python benchmarks/tuning.py``
"""

from __future__ import annotations

import json
import logging
import os
import platform
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

SMALL = 20
LARGE = 220
PARALLEL_TRIALS = 30
SLEEP = 0.2


def _space() -> dict[str, Any]:
    from kiln.training import Categorical, Float, Int

    return {"x": Float(-5, 5), "depth": Int(1, 8), "kind": Categorical(["a", "b", "c"])}


def nothing(params: dict[str, Any]) -> float:
    return float(params["x"]) ** 2 + params["depth"]


def naps(params: dict[str, Any]) -> float:
    time.sleep(SLEEP)
    return float(params["x"]) ** 2


def optuna_objective(trial: Any) -> float:
    x = trial.suggest_float("x", -5, 5)
    depth = trial.suggest_int("depth", 1, 8)
    trial.suggest_categorical("kind", ["a", "b", "c"])
    return float(x) ** 2 + depth


def marginal(run: Callable[[int, str], float]) -> float:
    """Milliseconds per trial between a SMALL and a LARGE study."""
    small = run(SMALL, "small")
    large = run(LARGE, "large")
    return round((large - small) / (LARGE - SMALL) * 1000, 3)


def kiln_side(home: Path, sampler: str) -> float:
    import kiln

    kiln.configure(home=home / sampler)
    run(5, "warm-up", sampler)  # the store, Optuna's imports: outside the timers
    try:
        return marginal(lambda trials, name: run(trials, name, sampler))
    finally:
        kiln.get_context().close()


def run(trials: int, name: str, sampler: str, *, report: bool = False) -> float:
    from kiln.training import tune

    started = time.perf_counter()
    tune(nothing, space=_space(), n_trials=trials, sampler=sampler, pruner=None, seed=0,
         study=f"{sampler}-{name}", progress=False, report=report)  # fmt: skip
    return time.perf_counter() - started


def report_seconds(home: Path) -> float:
    """A study of LARGE trials with its importances and HTML report, less the same without."""
    import kiln

    kiln.configure(home=home / "report")
    run(5, "warm-up", "tpe", report=True)
    without = run(LARGE, "without", "tpe")
    with_report = run(LARGE, "with", "tpe", report=True)
    kiln.get_context().close()
    return round(with_report - without, 2)


def _optuna_sampler(sampler: str) -> Any:
    import optuna

    return (
        optuna.samplers.RandomSampler(0) if sampler == "random" else optuna.samplers.TPESampler(0)
    )


def optuna_side(home: Path, sampler: str, storage: str | None) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = None if storage is None else f"sqlite:///{home / f'optuna-{sampler}.db'}"
    optuna.create_study(study_name=f"warm-up-{sampler}", storage=url).optimize(
        optuna_objective, n_trials=5
    )

    def run(trials: int, name: str) -> float:
        started = time.perf_counter()
        study = optuna.create_study(
            study_name=f"{sampler}-{name}", storage=url, sampler=_optuna_sampler(sampler)
        )
        study.optimize(optuna_objective, n_trials=trials)
        return time.perf_counter() - started

    return marginal(run)


def parallel_side(home: Path) -> dict[str, float]:
    import kiln
    from kiln.training import tune

    kiln.configure(home=home / "parallel")
    walls = {}
    for workers in (1, 2):
        started = time.perf_counter()
        tune(naps, space=_space(), n_trials=PARALLEL_TRIALS, parallelism=workers, sampler="random",
             pruner=None, seed=0, study=f"naps-{workers}", progress=False)  # fmt: skip
        walls[workers] = time.perf_counter() - started
    kiln.get_context().close()
    return {
        "trials": PARALLEL_TRIALS,
        "trial_seconds": SLEEP,
        "one_process_seconds": round(walls[1], 2),
        "two_processes_seconds": round(walls[2], 2),
        "speedup": round(walls[1] / walls[2], 2),
    }


def ray_tune_side() -> dict[str, Any] | None:
    try:
        from ray import tune as ray_tune
    except ImportError:
        return None
    started = time.perf_counter()
    tuner = ray_tune.Tuner(
        lambda config: {"score": config["x"] ** 2},
        param_space={"x": ray_tune.uniform(-5, 5)},
        tune_config=ray_tune.TuneConfig(num_samples=8, metric="score", mode="min"),
    )
    tuner.fit()
    return {"trials": 8, "seconds": round(time.perf_counter() - started, 2)}


def main() -> None:
    warnings.filterwarnings("ignore")
    logging.getLogger("kiln").setLevel(logging.ERROR)
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "trials": {"small": SMALL, "large": LARGE},
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        for sampler in ("random", "tpe"):
            kiln_ms = kiln_side(home, sampler)
            memory_ms = optuna_side(home, sampler, None)
            rdb_ms = optuna_side(home, sampler, "sqlite")
            results[sampler] = {
                "kiln_ms_per_trial": kiln_ms,
                "optuna_in_memory_ms_per_trial": memory_ms,
                "optuna_rdb_sqlite_ms_per_trial": rdb_ms,
                "kiln_overhead_ms_per_trial": round(kiln_ms - memory_ms, 3),
                "kiln_vs_optuna_rdb": round(kiln_ms / rdb_ms, 2),
            }
        results["report_seconds_for_large_study"] = report_seconds(home)
        results["parallel"] = parallel_side(home)
    ray = ray_tune_side()
    results["ray_tune"] = ray if ray is not None else "ray.tune is not importable here"
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
