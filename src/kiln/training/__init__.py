"""Training: hyperparameter search on Optuna, checkpoints, tracked training jobs (issue 10).

::

    kiln.tune                _tune.py            a study in Kiln's database, trials as
      │ search spaces        _space.py           nested runs, run here, in local
      │ Optuna storage       _storage.py         processes or on Ray
      │ the trial loop       _loop.py, _workers.py
      │ died trials          _stale.py           found by owner and heartbeat, retried
      ▼
    TuningResult             _result.py          best trial, importances, plots, fit_best
    studies                  _studies.py         read side: list, show (CLI, REST, UI)

    checkpoint               checkpoint.py       save / latest / load inside a run

    jobs                     _jobs.py, _job_*.py submit, list, logs, cancel; resources used

Importing this package imports neither Optuna nor NumPy: names load on first use.
docs/training.md is the guide.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.training import checkpoint
    from kiln.training._fluent import delete_study, get_study, list_studies
    from kiln.training._job_control import (
        cancel_job,
        get_job,
        job_logs,
        list_jobs,
        submit_job,
        wait_job,
    )
    from kiln.training._job_logs import JobLogs
    from kiln.training._jobs import Job, JobStatus
    from kiln.training._loop import current_trial, report
    from kiln.training._result import BestModel, TuningResult
    from kiln.training._space import Categorical, Float, Int
    from kiln.training._storage import KilnStorage
    from kiln.training._studies import StudySummary, TrialSummary
    from kiln.training._tune import tune

# name -> module that defines it; resolved on first attribute access.
_LAZY: dict[str, str] = {
    # tuning
    "BestModel": "kiln.training._result",
    "Categorical": "kiln.training._space",
    "Float": "kiln.training._space",
    "Int": "kiln.training._space",
    "KilnStorage": "kiln.training._storage",
    "StudySummary": "kiln.training._studies",
    "TrialSummary": "kiln.training._studies",
    "TuningResult": "kiln.training._result",
    "current_trial": "kiln.training._loop",
    "delete_study": "kiln.training._fluent",
    "get_study": "kiln.training._fluent",
    "list_studies": "kiln.training._fluent",
    "report": "kiln.training._loop",
    "tune": "kiln.training._tune",
    # checkpoints
    "checkpoint": "kiln.training",
    # jobs
    "Job": "kiln.training._jobs",
    "JobLogs": "kiln.training._job_logs",
    "JobStatus": "kiln.training._jobs",
    "cancel_job": "kiln.training._job_control",
    "get_job": "kiln.training._job_control",
    "job_logs": "kiln.training._job_control",
    "list_jobs": "kiln.training._job_control",
    "submit_job": "kiln.training._job_control",
    "wait_job": "kiln.training._job_control",
}

__all__ = [
    "BestModel",
    "Categorical",
    "Float",
    "Int",
    "Job",
    "JobLogs",
    "JobStatus",
    "KilnStorage",
    "StudySummary",
    "TrialSummary",
    "TuningResult",
    "cancel_job",
    "checkpoint",
    "current_trial",
    "delete_study",
    "get_job",
    "get_study",
    "job_logs",
    "list_jobs",
    "list_studies",
    "report",
    "submit_job",
    "tune",
    "wait_job",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.training' has no attribute {name!r}")
    if name == "checkpoint":
        value: Any = importlib.import_module("kiln.training.checkpoint")
    else:
        value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
