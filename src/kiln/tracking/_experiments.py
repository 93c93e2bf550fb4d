"""Experiments: named groups of runs in a project."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import ExperimentRow, ExperimentTagRow, ProjectRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.tracking._entities import Experiment, LifecycleStage
from kiln.tracking._names import MAX_TAG_VALUE_LENGTH, check_key, check_name, check_value

#: The experiment runs go to when none is named.
DEFAULT_EXPERIMENT = "default"


def _experiment(session: Session, row: ExperimentRow, project: str) -> Experiment:
    tags = dict(
        session.execute(
            select(ExperimentTagRow.key, ExperimentTagRow.value).where(
                ExperimentTagRow.experiment_id == row.id
            )
        ).all()
    )
    return Experiment(
        id=str(row.id),
        name=row.name,
        project=project,
        description=row.description,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
        created_at=row.created_at,
        updated_at=row.updated_at,
        tags=tags,
    )


def parse_experiment_id(experiment_id: str | int) -> int:
    try:
        return int(experiment_id)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"experiment id {experiment_id!r} is not a number", field="experiment_id"
        ) from None


def experiment_row(session: Session, project: str, experiment_id: str | int) -> ExperimentRow:
    """The row of an experiment of ``project`` by id, or ``NotFound``."""
    row = session.scalar(
        select(ExperimentRow)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ExperimentRow.id == parse_experiment_id(experiment_id), ProjectRow.name == project)
    )
    if row is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist in project {project!r}")
    return row


def create_experiment(
    session: Session,
    project: str,
    name: str,
    *,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> Experiment:
    """Create an experiment; ``AlreadyExists`` if the project has one of that name."""
    check_name(name, what="experiment name")
    row = ExperimentRow(project_id=project_id(session, project), name=name, description=description)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(
            f"experiment {name!r} already exists in project {project!r}", field="name"
        ) from None
    for key, value in (tags or {}).items():
        _set_tag(session, row.id, key, value)
    session.flush()
    return _experiment(session, row, project)


def get_experiment(session: Session, project: str, experiment_id: str | int) -> Experiment:
    return _experiment(session, experiment_row(session, project, experiment_id), project)


def get_experiment_by_name(session: Session, project: str, name: str) -> Experiment:
    row = session.scalar(
        select(ExperimentRow)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ExperimentRow.name == name, ProjectRow.name == project)
    )
    if row is None:
        raise NotFound(f"experiment {name!r} does not exist in project {project!r}")
    return _experiment(session, row, project)


def ensure_experiment(session: Session, project: str, name: str) -> Experiment:
    """Experiment ``name``, created if missing; a deleted one is refused (restore it first)."""
    try:
        experiment = get_experiment_by_name(session, project, name)
    except NotFound:
        return create_experiment(session, project, name)
    if experiment.lifecycle_stage is LifecycleStage.DELETED:
        from kiln.errors import Conflict

        raise Conflict(
            f"experiment {name!r} is deleted: restore it (`kiln experiments restore "
            f"{experiment.id}`) or choose another name"
        )
    return experiment


def list_experiments(
    session: Session, project: str, *, include_deleted: bool = False
) -> list[Experiment]:
    query = (
        select(ExperimentRow)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ProjectRow.name == project)
        .order_by(ExperimentRow.id)
    )
    if not include_deleted:
        query = query.where(ExperimentRow.lifecycle_stage == LifecycleStage.ACTIVE.value)
    return [_experiment(session, row, project) for row in session.scalars(query)]


def update_experiment(
    session: Session,
    project: str,
    experiment_id: str | int,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Experiment:
    row = experiment_row(session, project, experiment_id)
    if name is not None:
        row.name = check_name(name, what="experiment name")
    if description is not None:
        row.description = description
    row.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyExists(
            f"experiment {name!r} already exists in project {project!r}", field="name"
        ) from None
    return _experiment(session, row, project)


def set_experiment_lifecycle(
    session: Session, project: str, experiment_id: str | int, stage: LifecycleStage
) -> Experiment:
    """Delete (hide) or restore an experiment; its runs follow it in searches."""
    row = experiment_row(session, project, experiment_id)
    row.lifecycle_stage = stage.value
    row.updated_at = utcnow()
    session.flush()
    return _experiment(session, row, project)


def _set_tag(session: Session, experiment_id: int, key: str, value: str) -> None:
    check_key(key, what="tag key")
    check_value(str(value), limit=MAX_TAG_VALUE_LENGTH, what=f"tag {key!r}")
    tag = session.get(ExperimentTagRow, (experiment_id, key))
    if tag is None:
        session.add(ExperimentTagRow(experiment_id=experiment_id, key=key, value=str(value)))
    else:
        tag.value = str(value)


def set_experiment_tag(
    session: Session, project: str, experiment_id: str | int, key: str, value: str
) -> None:
    row = experiment_row(session, project, experiment_id)
    _set_tag(session, row.id, key, value)
    session.flush()


def delete_experiment_tag(
    session: Session, project: str, experiment_id: str | int, key: str
) -> None:
    row = experiment_row(session, project, experiment_id)
    result = session.execute(
        delete(ExperimentTagRow).where(
            ExperimentTagRow.experiment_id == row.id, ExperimentTagRow.key == key
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"experiment {experiment_id} has no tag {key!r}")
