"""MLflow 3 logged models: models saved with their own files, usually from a run.

Kiln's own SDK keeps models as run artifacts (``runs:/<run>/<path>``) and in
the registry; this table exists so MLflow 3 clients, which create a logged
model, upload its files and finalize it, work unchanged against Kiln.
"""

from __future__ import annotations

import json
import math
import secrets
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.artifacts import validate_artifact_path
from kiln.db import utcnow
from kiln.db.tables import ExperimentRow, LoggedModelArtifactRow, LoggedModelRow, ProjectRow
from kiln.db.tables.tracking import LoggedModelMetricRow
from kiln.errors import InvalidInput, NotFound
from kiln.tracking._entities import RunArtifact
from kiln.tracking._experiments import experiment_row, parse_experiment_id
from kiln.tracking._names import check_name
from kiln.tracking._upsert import insert_for

STATUSES = ("PENDING", "READY", "UPLOAD_FAILED")


@dataclass(frozen=True, slots=True)
class ModelMetric:
    """A metric point linked to a logged model, with the run and dataset it came from."""

    key: str
    value: float
    step: int
    timestamp: int
    run_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


@dataclass(frozen=True, slots=True)
class LoggedModel:
    id: str
    experiment_id: str
    name: str
    model_type: str
    source_run_id: str | None
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: tuple[ModelMetric, ...] = ()


def _model(row: LoggedModelRow, metrics: Sequence[ModelMetric] = ()) -> LoggedModel:
    return LoggedModel(
        id=row.id,
        experiment_id=str(row.experiment_id),
        name=row.name,
        model_type=row.model_type,
        source_run_id=row.source_run_id,
        status=row.status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        params=json.loads(row.params),
        tags=json.loads(row.tags),
        metrics=tuple(metrics),
    )


def model_metrics(session: Session, model_ids: Sequence[str]) -> dict[str, list[ModelMetric]]:
    """The linked metric points of several models in one query, by key, step and time."""
    out: dict[str, list[ModelMetric]] = defaultdict(list)
    if not model_ids:
        return out
    query = (
        select(LoggedModelMetricRow)
        .where(LoggedModelMetricRow.model_id.in_(list(model_ids)))
        .order_by(
            LoggedModelMetricRow.model_id,
            LoggedModelMetricRow.key,
            LoggedModelMetricRow.step,
            LoggedModelMetricRow.timestamp,
            LoggedModelMetricRow.id,
        )
    )
    for row in session.scalars(query):
        out[row.model_id].append(
            ModelMetric(
                key=row.key,
                value=math.nan if row.is_nan else row.value,
                step=row.step,
                timestamp=row.timestamp,
                run_id=row.run_id,
                dataset_name=row.dataset_name,
                dataset_digest=row.dataset_digest,
            )
        )
    return out


def _with_metrics(session: Session, rows: Sequence[LoggedModelRow]) -> list[LoggedModel]:
    metrics = model_metrics(session, [row.id for row in rows])
    return [_model(row, metrics.get(row.id, ())) for row in rows]


def _row(
    session: Session, project: str, model_id: str, *, allow_deleted: bool = False
) -> LoggedModelRow:
    row = session.scalar(
        select(LoggedModelRow)
        .join(ExperimentRow, ExperimentRow.id == LoggedModelRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(LoggedModelRow.id == model_id, ProjectRow.name == project)
    )
    if row is None or (row.deleted and not allow_deleted):
        raise NotFound(f"logged model {model_id!r} does not exist in project {project!r}")
    return row


def create_logged_model(
    session: Session,
    project: str,
    experiment_id: str,
    *,
    name: str | None = None,
    model_type: str = "",
    source_run_id: str | None = None,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    created_by: str = "",
    created_at: datetime | None = None,
) -> LoggedModel:
    """A PENDING model; ``created_at`` keeps an imported model's creation time."""
    experiment = experiment_row(session, project, experiment_id)
    model_id = f"m-{secrets.token_hex(16)}"
    row = LoggedModelRow(
        id=model_id,
        experiment_id=experiment.id,
        name=check_name(name, what="model name") if name else model_id,
        model_type=model_type,
        source_run_id=source_run_id,
        status="PENDING",
        params=json.dumps(dict(params or {})),
        tags=json.dumps(dict(tags or {})),
        created_by=created_by,
    )
    if created_at is not None:
        row.created_at = row.updated_at = created_at
    session.add(row)
    session.flush()
    return _model(row)  # a new model has no metrics yet


def get_logged_model(
    session: Session, project: str, model_id: str, *, allow_deleted: bool = False
) -> LoggedModel:
    """The model with its linked metrics; deleted ones only with ``allow_deleted``."""
    return _with_metrics(session, [_row(session, project, model_id, allow_deleted=allow_deleted)])[
        0
    ]


def finalize_logged_model(
    session: Session, project: str, model_id: str, status: str
) -> LoggedModel:
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}", field="status")
    row = _row(session, project, model_id)
    row.status = status
    row.updated_at = utcnow()
    session.flush()
    return _with_metrics(session, [row])[0]


def update_logged_model(
    session: Session,
    project: str,
    model_id: str,
    *,
    set_tags: Mapping[str, str] | None = None,
    delete_tag: str | None = None,
    add_params: Mapping[str, str] | None = None,
) -> LoggedModel:
    row = _row(session, project, model_id)
    tags = json.loads(row.tags)
    tags.update(set_tags or {})
    if delete_tag is not None:
        if delete_tag not in tags:
            raise NotFound(f"logged model {model_id} has no tag {delete_tag!r}")
        del tags[delete_tag]
    params = json.loads(row.params)
    params.update(add_params or {})
    row.tags, row.params, row.updated_at = json.dumps(tags), json.dumps(params), utcnow()
    session.flush()
    return _with_metrics(session, [row])[0]


def delete_logged_model(session: Session, project: str, model_id: str) -> None:
    _row(session, project, model_id).deleted = True


def search_logged_models(
    session: Session, project: str, experiment_ids: Sequence[str]
) -> list[LoggedModel]:
    query = (
        select(LoggedModelRow)
        .join(ExperimentRow, ExperimentRow.id == LoggedModelRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ProjectRow.name == project, LoggedModelRow.deleted.is_(False))
        .order_by(LoggedModelRow.created_at.desc())
    )
    if experiment_ids:
        query = query.where(
            LoggedModelRow.experiment_id.in_([parse_experiment_id(e) for e in experiment_ids])
        )
    return _with_metrics(session, list(session.scalars(query)))


def record_model_artifact(
    session: Session, project: str, model_id: str, path: str, digest: str, size: int
) -> RunArtifact:
    _row(session, project, model_id)
    path = validate_artifact_path(path)
    table = LoggedModelArtifactRow.__table__
    upsert = insert_for(session, table)
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[table.c.model_id, table.c.path],
            set_={"digest": upsert.excluded.digest, "size": upsert.excluded.size},
        ),
        [
            {
                "model_id": model_id,
                "path": path,
                "digest": digest,
                "size": size,
                "created_at": utcnow(),
            }
        ],
    )
    return RunArtifact(path, digest, size)


def list_model_artifacts(
    session: Session, project: str, model_id: str, prefix: str = ""
) -> list[RunArtifact]:
    _row(session, project, model_id)
    query = select(LoggedModelArtifactRow).where(LoggedModelArtifactRow.model_id == model_id)
    if prefix:
        folder = validate_artifact_path(prefix.rstrip("/"))
        query = query.where(
            (LoggedModelArtifactRow.path == folder)
            | LoggedModelArtifactRow.path.startswith(f"{folder}/", autoescape=True)
        )
    return [
        RunArtifact(row.path, row.digest, row.size)
        for row in session.scalars(query.order_by(LoggedModelArtifactRow.path))
    ]


def get_model_artifact(session: Session, project: str, model_id: str, path: str) -> RunArtifact:
    _row(session, project, model_id)
    row = session.get(LoggedModelArtifactRow, (model_id, validate_artifact_path(path)))
    if row is None:
        raise NotFound(f"logged model {model_id} has no file {path!r}")
    return RunArtifact(row.path, row.digest, row.size)
