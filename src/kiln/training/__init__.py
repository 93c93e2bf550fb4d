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

    jobs                     _jobs*.py           submit, list, logs, cancel; resources used

Importing this package imports neither Optuna nor NumPy: names load on first use.
docs/training.md is the guide.
"""

from __future__ import annotations

import importlib
from typing import Any

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
}

__all__ = sorted(_LAZY)


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
