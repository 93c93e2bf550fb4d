"""Pipelines: steps, the DAG their calls build, the step cache, materializers, runners.

::

    @step / Step                   _step.py      a function plus options (cache, retries,
      │                                          backoff, timeout, resources, name)
    @pipeline / Pipeline           _pipeline.py  a function whose step calls build the DAG;
      │                                          params from Python or YAML (_params.py)
      │ calling a step inside it ──► Output      _graph.py     a placeholder; Graph + Node
      ▼
    Pipeline.run(...) ──► PipelineRun            _engine.py    plan, record, resume_pipeline
      │  walk the DAG, cache, lineage, gates      _execution.py
      │  kiln.data.check(...) in a pipeline       _gate.py      a gate step: pass, PAUSE, FAIL
      │  cache key                               _cache.py, _source.py (step + project source)
      │  records (runs, step runs, cache)        _records.py   services on a Session
      ▼
    Runner.submit(StepTask) ──► Future[StepOutcome]   _runner.py (ABC + "kiln.runners" table)
      ├── SequentialRunner  "sequential"         _sequential.py  this process (default)
      ├── ParallelRunner    "parallel"           _parallel.py    worker processes (_worker.py)
      └── RayRunner         "ray"                _ray.py         Ray tasks (kiln-ml[ray])
      ▼
    execute_task: load inputs, call with retries/timeout, capture output,
      │  measure CPU and memory                  _execute.py, _capture.py
      ▼
    Materializer (ABC + "kiln.materializers")    _materializer.py
      pandas, polars, arrow, numpy, json         _materializers.py
      kiln_model (kiln.models folders)           _model_materializer.py

    Schedule (cron, timezone, catch-up)           _schedules.py   services; _cron.py the times
      │ claim_due_firings: the lease row per fire time             _firings.py
      ▼
    Scheduler.tick / run_forever ──► `kiln pipelines run` processes   _scheduler.py

Records are plain dataclasses (``_entities.py``); ``load_output`` reads a
past step's value back. Importing this package loads no data library and no
database code: those are imported when a pipeline runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiln.pipelines._entities import (
    OutputRef,
    PipelineFailed,
    PipelineRun,
    PipelineStatus,
    StepCrashed,
    StepRun,
    StepStatus,
    StepTimeout,
)
from kiln.pipelines._graph import Output
from kiln.pipelines._materializer import (
    BUILTIN_MATERIALIZERS,
    MATERIALIZERS_ENTRY_POINT_GROUP,
    Materializer,
    Materializers,
)
from kiln.pipelines._pipeline import Pipeline, pipeline
from kiln.pipelines._resources import Resources
from kiln.pipelines._runner import (
    BUILTIN_RUNNERS,
    RUNNERS_ENTRY_POINT_GROUP,
    Runner,
    get_runner,
    known_runners,
)
from kiln.pipelines._schedule_entities import CatchUp, FiringStatus, Schedule, ScheduleFiring
from kiln.pipelines._step import Step, step
from kiln.pipelines._task import StepOutcome, StepTask

if TYPE_CHECKING:
    from kiln.pipelines._engine import resume_pipeline, run_pipeline
    from kiln.pipelines._execute import execute_task
    from kiln.pipelines._outputs import load_output
    from kiln.pipelines._parallel import ParallelRunner
    from kiln.pipelines._ray import RayRunner
    from kiln.pipelines._records import get_pipeline_run, get_step_run, list_pipeline_runs
    from kiln.pipelines._scheduler import Scheduler
    from kiln.pipelines._schedules import (
        create_schedule,
        delete_schedule,
        get_schedule,
        list_firings,
        list_schedules,
        update_schedule,
    )
    from kiln.pipelines._sequential import SequentialRunner
    from kiln.pipelines._targets import load_pipeline

__all__ = [
    "BUILTIN_MATERIALIZERS",
    "BUILTIN_RUNNERS",
    "MATERIALIZERS_ENTRY_POINT_GROUP",
    "RUNNERS_ENTRY_POINT_GROUP",
    "CatchUp",
    "FiringStatus",
    "Materializer",
    "Materializers",
    "Output",
    "OutputRef",
    "ParallelRunner",
    "Pipeline",
    "PipelineFailed",
    "PipelineRun",
    "PipelineStatus",
    "RayRunner",
    "Resources",
    "Runner",
    "Schedule",
    "ScheduleFiring",
    "Scheduler",
    "SequentialRunner",
    "Step",
    "StepCrashed",
    "StepOutcome",
    "StepRun",
    "StepStatus",
    "StepTask",
    "StepTimeout",
    "create_schedule",
    "delete_schedule",
    "execute_task",
    "get_pipeline_run",
    "get_runner",
    "get_schedule",
    "get_step_run",
    "known_runners",
    "list_firings",
    "list_pipeline_runs",
    "list_schedules",
    "load_output",
    "load_pipeline",
    "pipeline",
    "resume_pipeline",
    "run_pipeline",
    "step",
    "update_schedule",
]

# Names whose modules import the database layer, multiprocessing or Ray (only when a
# RayRunner is built): loaded on first access.
_LAZY = {
    "ParallelRunner": "kiln.pipelines._parallel",
    "RayRunner": "kiln.pipelines._ray",
    "Scheduler": "kiln.pipelines._scheduler",
    "SequentialRunner": "kiln.pipelines._sequential",
    "create_schedule": "kiln.pipelines._schedules",
    "delete_schedule": "kiln.pipelines._schedules",
    "get_schedule": "kiln.pipelines._schedules",
    "list_firings": "kiln.pipelines._schedules",
    "list_schedules": "kiln.pipelines._schedules",
    "update_schedule": "kiln.pipelines._schedules",
    "execute_task": "kiln.pipelines._execute",
    "get_pipeline_run": "kiln.pipelines._records",
    "get_step_run": "kiln.pipelines._records",
    "list_pipeline_runs": "kiln.pipelines._records",
    "load_output": "kiln.pipelines._outputs",
    "resume_pipeline": "kiln.pipelines._engine",
    "run_pipeline": "kiln.pipelines._engine",
    "load_pipeline": "kiln.pipelines._targets",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.pipelines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
