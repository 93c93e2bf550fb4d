"""Kiln's tracking entities in MLflow's JSON shapes (and back)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kiln.tracking import _experiments
from kiln.tracking._entities import Experiment, Run, RunStatus
from kiln.tracking._wire import encode_float

#: MLflow clients start runs in experiment "0" when none is set: Kiln's default one.
MLFLOW_DEFAULT_EXPERIMENT = "0"


def resolve_experiment_id(session: Session, project: str, experiment_id: str) -> str:
    """A Kiln experiment id for an MLflow one ("0" is the project's default experiment)."""
    if str(experiment_id) == MLFLOW_DEFAULT_EXPERIMENT:
        return _experiments.ensure_experiment(session, project, _experiments.DEFAULT_EXPERIMENT).id
    return str(experiment_id)


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.id,
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{experiment.id}",
        "lifecycle_stage": experiment.lifecycle_stage.value,
        "last_update_time": _ms(experiment.updated_at),
        "creation_time": _ms(experiment.created_at),
        "tags": [{"key": k, "value": v} for k, v in sorted(experiment.tags.items())],
    }


def artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.id}/artifacts"


def run_json(run: Run) -> dict[str, Any]:
    info: dict[str, Any] = {
        "run_id": run.id,
        "run_uuid": run.id,
        "run_name": run.name,
        "experiment_id": run.experiment_id,
        "user_id": run.user,
        "status": run.status.value,
        "start_time": run.start_time,
        "artifact_uri": artifact_uri(run),
        "lifecycle_stage": run.lifecycle_stage.value,
    }
    if run.end_time is not None:
        info["end_time"] = run.end_time
    tags = dict(run.tags)
    tags.setdefault("mlflow.runName", run.name)
    if run.parent_run_id:
        tags.setdefault("mlflow.parentRunId", run.parent_run_id)
    return {
        "info": info,
        "data": {
            "metrics": [
                {
                    "key": m.key,
                    "value": encode_float(m.value),
                    "timestamp": m.timestamp,
                    "step": m.step,
                }
                for m in run.metrics.values()
            ],
            "params": [{"key": k, "value": v} for k, v in run.params.items()],
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
        "inputs": {
            "dataset_inputs": [
                {
                    "tags": [{"key": "mlflow.data.context", "value": d.context}]
                    if d.context
                    else [],
                    "dataset": {
                        "name": d.name,
                        "digest": d.digest,
                        "source_type": d.source_type,
                        "source": d.source,
                        "schema": d.schema,
                        "profile": d.profile,
                    },
                }
                for d in run.inputs
            ]
        },
    }


def run_status(value: str) -> RunStatus:
    return RunStatus(value)
