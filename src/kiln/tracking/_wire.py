"""The JSON form of tracking entities, shared by the REST API and the remote backend.

JSON has no NaN or infinities, so metric values travel as numbers when finite
and as the strings "NaN", "Infinity" and "-Infinity" otherwise.
"""

from __future__ import annotations

import math
from typing import Any

from kiln.tracking._entities import (
    DatasetInput,
    Experiment,
    LifecycleStage,
    Metric,
    Run,
    RunArtifact,
    RunStatus,
)


def encode_float(value: float) -> float | str:
    if math.isfinite(value):
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def decode_float(value: float | int | str) -> float:
    return float(value)


def metric_to_json(metric: Metric) -> dict[str, Any]:
    return {
        "key": metric.key,
        "value": encode_float(metric.value),
        "step": metric.step,
        "timestamp": metric.timestamp,
    }


def metric_from_json(data: dict[str, Any]) -> Metric:
    return Metric(
        data["key"], decode_float(data["value"]), int(data.get("step", 0)), int(data["timestamp"])
    )


def dataset_to_json(dataset: DatasetInput) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
        "schema": dataset.schema,
        "profile": dataset.profile,
        "context": dataset.context,
    }


def run_to_json(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": run.status.value,
        "start_time": run.start_time,
        "end_time": run.end_time,
        "parent_run_id": run.parent_run_id,
        "user": run.user,
        "lifecycle_stage": run.lifecycle_stage.value,
        "failure": run.failure,
        "params": run.params,
        "metrics": {key: metric_to_json(m) for key, m in run.metrics.items()},
        "tags": run.tags,
        "inputs": [dataset_to_json(d) for d in run.inputs],
    }


def run_from_json(data: dict[str, Any]) -> Run:
    return Run(
        id=data["id"],
        experiment_id=str(data["experiment_id"]),
        name=data["name"],
        status=RunStatus(data["status"]),
        start_time=int(data["start_time"]),
        end_time=data.get("end_time"),
        parent_run_id=data.get("parent_run_id"),
        user=data.get("user", ""),
        lifecycle_stage=LifecycleStage(data["lifecycle_stage"]),
        failure=data.get("failure"),
        params=dict(data.get("params", {})),
        metrics={k: metric_from_json(m) for k, m in data.get("metrics", {}).items()},
        tags=dict(data.get("tags", {})),
        inputs=tuple(DatasetInput(**d) for d in data.get("inputs", [])),
    )


def experiment_to_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "id": experiment.id,
        "name": experiment.name,
        "project": experiment.project,
        "description": experiment.description,
        "lifecycle_stage": experiment.lifecycle_stage.value,
        "created_at": experiment.created_at.isoformat(),
        "updated_at": experiment.updated_at.isoformat(),
        "tags": experiment.tags,
    }


def experiment_from_json(data: dict[str, Any]) -> Experiment:
    from datetime import datetime

    return Experiment(
        id=str(data["id"]),
        name=data["name"],
        project=data["project"],
        description=data.get("description", ""),
        lifecycle_stage=LifecycleStage(data["lifecycle_stage"]),
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        tags=dict(data.get("tags", {})),
    )


def artifact_to_json(artifact: RunArtifact) -> dict[str, Any]:
    return {"path": artifact.path, "digest": artifact.digest, "size": artifact.size}


def artifact_from_json(data: dict[str, Any]) -> RunArtifact:
    return RunArtifact(path=data["path"], digest=data["digest"], size=int(data["size"]))
