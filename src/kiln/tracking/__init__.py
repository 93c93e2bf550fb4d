"""Experiment tracking: experiments, runs, params, metrics, tags, artifacts, datasets.

::

    _fluent.py          the SDK: start_run / log_metric / … on the current context
      │  _buffer.py     per-call logging batched by a background writer
      │  _logging_files.py   files, folders, dicts, figures, tables, dataset inputs
      │  _environment.py / _system.py   source, packages; CPU/memory/GPU sampling
      ▼
    _backend.py         TrackingBackend: LocalBackend (stores) | _rest.RestBackend (server)
      ▼
    _experiments.py, _runs.py, _artifacts.py, _inputs.py, _search*.py
                        services: plain functions taking a Session first
    _entities.py        Experiment, Run, Metric, Param, DatasetInput, RunArtifact
    _wire.py            their JSON form (NaN and ±inf included) for the REST API

The most used names are re-exported from ``kiln`` itself (``kiln.start_run``).
"""

from kiln.tracking._entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunArtifact,
    RunStatus,
)
from kiln.tracking._experiments import DEFAULT_EXPERIMENT
from kiln.tracking._fluent import (
    ActiveRun,
    activate_run,
    active_run,
    end_run,
    flush,
    get_metric_histories,
    get_metric_history,
    get_run,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    search_runs,
    search_runs_page,
    set_experiment,
    set_tag,
    set_tags,
    start_run,
)
from kiln.tracking._logging_files import (
    dataset_input,
    download_artifacts,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_dict,
    log_figure,
    log_input,
    log_table,
    log_text,
)

__all__ = [
    "DEFAULT_EXPERIMENT",
    "ActiveRun",
    "DatasetInput",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "Param",
    "Run",
    "RunArtifact",
    "RunStatus",
    "activate_run",
    "active_run",
    "dataset_input",
    "download_artifacts",
    "end_run",
    "flush",
    "get_metric_histories",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "log_artifact",
    "log_artifacts",
    "log_dict",
    "log_figure",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_table",
    "log_text",
    "search_runs",
    "search_runs_page",
    "set_experiment",
    "set_tag",
    "set_tags",
    "start_run",
]
