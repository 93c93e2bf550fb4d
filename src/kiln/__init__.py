"""Kiln: one platform for the whole machine-learning lifecycle.

The SDK's public names are importable from here; they are loaded on first
access, so ``import kiln`` stays fast and pulls in no heavy library.

- ``kiln.configure(...)`` / ``kiln.get_context()``: where the stores are.
- ``kiln.Settings``: the typed configuration (arguments > ``KILN_*`` > kiln.toml > defaults).
- ``kiln.errors``: the exception tree (also re-exported here).

- ``@kiln.step`` / ``@kiln.pipeline``: pipelines of cached steps (``kiln.pipelines``).
- ``kiln.tune(...)``: hyperparameter search on Optuna, studies in Kiln's store;
  ``kiln.checkpoint.save`` / ``latest``: resumable training (``kiln.training``).

Subpackages: ``kiln.db`` (metadata store), ``kiln.artifacts`` (artifact store),
``kiln.auth`` (projects, users, tokens, audit), ``kiln.data`` (versioned
datasets, profiles, validation), ``kiln.pipelines``, ``kiln.server``, ``kiln.cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiln._version import __version__

if TYPE_CHECKING:
    from kiln.autolog import autolog
    from kiln.config import Settings
    from kiln.context import Context, configure, get_context
    from kiln.errors import (
        AlreadyExists,
        Conflict,
        InvalidInput,
        KilnError,
        NotFound,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
    )
    from kiln.models import log_model
    from kiln.pipelines import pipeline, step
    from kiln.registry import load_model, register_model, set_alias
    from kiln.tracking import (
        active_run,
        download_artifacts,
        end_run,
        flush,
        get_metric_histories,
        get_metric_history,
        get_run,
        list_artifacts,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_table,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        start_run,
    )
    from kiln.training import checkpoint, tune

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Context",
    "InvalidInput",
    "KilnError",
    "NotFound",
    "PermissionDenied",
    "Settings",
    "Unauthenticated",
    "Unavailable",
    "__version__",
    "active_run",
    "autolog",
    "checkpoint",
    "configure",
    "download_artifacts",
    "end_run",
    "flush",
    "get_context",
    "get_metric_histories",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "pipeline",
    "register_model",
    "search_runs",
    "set_alias",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
    "step",
    "tune",
]

# name -> module that defines it; resolved on first attribute access.
_LAZY = {
    "autolog": "kiln.autolog",
    "AlreadyExists": "kiln.errors",
    "Conflict": "kiln.errors",
    "Context": "kiln.context",
    "InvalidInput": "kiln.errors",
    "KilnError": "kiln.errors",
    "NotFound": "kiln.errors",
    "PermissionDenied": "kiln.errors",
    "Settings": "kiln.config",
    "Unauthenticated": "kiln.errors",
    "Unavailable": "kiln.errors",
    "configure": "kiln.context",
    "get_context": "kiln.context",
    "load_model": "kiln.registry",
    "log_model": "kiln.models",
    "pipeline": "kiln.pipelines",
    "step": "kiln.pipelines",
    "register_model": "kiln.registry",
    "set_alias": "kiln.registry",
    "active_run": "kiln.tracking",
    "download_artifacts": "kiln.tracking",
    "end_run": "kiln.tracking",
    "flush": "kiln.tracking",
    "get_metric_histories": "kiln.tracking",
    "get_metric_history": "kiln.tracking",
    "get_run": "kiln.tracking",
    "list_artifacts": "kiln.tracking",
    "log_artifact": "kiln.tracking",
    "log_artifacts": "kiln.tracking",
    "log_dict": "kiln.tracking",
    "log_figure": "kiln.tracking",
    "log_input": "kiln.tracking",
    "log_metric": "kiln.tracking",
    "log_metrics": "kiln.tracking",
    "log_param": "kiln.tracking",
    "log_params": "kiln.tracking",
    "log_table": "kiln.tracking",
    "log_text": "kiln.tracking",
    "search_runs": "kiln.tracking",
    "set_experiment": "kiln.tracking",
    "set_tag": "kiln.tracking",
    "set_tags": "kiln.tracking",
    "start_run": "kiln.tracking",
    "checkpoint": "kiln.training",
    "tune": "kiln.training",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
