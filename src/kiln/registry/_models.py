"""Registered models: create, read, rename, describe, tag, delete."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import ProjectRow, RegisteredModelRow, RegisteredModelTagRow
from kiln.errors import AlreadyExists, NotFound
from kiln.registry._entities import RegisteredModel
from kiln.registry._names import check_model_name, check_tag
from kiln.registry._rows import load_models, model_row


def _one(session: Session, project: str, row: RegisteredModelRow) -> RegisteredModel:
    return load_models(session, project, [row])[0]


def create_registered_model(
    session: Session,
    project: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> RegisteredModel:
    """Create registered model ``name``; ``AlreadyExists`` if the project has one."""
    row = _insert(session, project, name, description)
    if row is None:
        raise AlreadyExists(
            f"registered model {name!r} already exists in project {project!r}", field="name"
        )
    for key, value in (tags or {}).items():
        _set_tag(session, row.id, key, value)
    session.flush()
    return _one(session, project, row)


def _insert(
    session: Session, project: str, name: str, description: str
) -> RegisteredModelRow | None:
    """The new row, or None when the name is taken (also by a concurrent transaction)."""
    check_model_name(name)
    row = RegisteredModelRow(
        project_id=project_id(session, project), name=name, description=str(description)
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def ensure_model_row(session: Session, project: str, name: str) -> RegisteredModelRow:
    """Registered model ``name``, created if missing (safe against concurrent creators)."""
    try:
        return model_row(session, project, name)
    except NotFound:
        pass
    row = _insert(session, project, name, "")
    # Taken between our read and our insert: the other transaction has committed it.
    return row if row is not None else model_row(session, project, name)


def get_registered_model(session: Session, project: str, name: str) -> RegisteredModel:
    return _one(session, project, model_row(session, project, name))


def list_registered_models(session: Session, project: str) -> list[RegisteredModel]:
    """Every registered model of the project, by name."""
    rows = session.scalars(
        select(RegisteredModelRow)
        .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
        .where(ProjectRow.name == project)
        .order_by(RegisteredModelRow.name)
    ).all()
    return load_models(session, project, rows)


def rename_registered_model(
    session: Session, project: str, name: str, new_name: str
) -> RegisteredModel:
    """Give a model a new name; versions, aliases, events and gates follow it."""
    row = model_row(session, project, name, lock=True)
    row.name = check_model_name(new_name, field="new_name")
    row.updated_at = utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AlreadyExists(
            f"registered model {new_name!r} already exists in project {project!r}",
            field="new_name",
        ) from None
    return _one(session, project, row)


def update_registered_model(
    session: Session,
    project: str,
    name: str,
    *,
    description: str | None = None,
    new_name: str | None = None,
) -> RegisteredModel:
    """Change a model's description and/or name (``None`` keeps it) in one transaction."""
    if new_name is not None and new_name != name:
        name = rename_registered_model(session, project, name, new_name).name
    row = model_row(session, project, name)
    if description is not None:
        row.description = str(description)
        row.updated_at = utcnow()
        session.flush()
    return _one(session, project, row)


def delete_registered_model(session: Session, project: str, name: str) -> None:
    """Delete a model with its versions, tags, aliases, alias history and gates."""
    session.delete(model_row(session, project, name, lock=True))
    session.flush()


def _set_tag(session: Session, model_id: int, key: str, value: str) -> None:
    key, text = check_tag(key, value)
    tag = session.get(RegisteredModelTagRow, (model_id, key))
    if tag is None:
        session.add(RegisteredModelTagRow(model_id=model_id, key=key, value=text))
    else:
        tag.value = text


def set_registered_model_tag(
    session: Session, project: str, name: str, key: str, value: str
) -> None:
    row = model_row(session, project, name)
    _set_tag(session, row.id, key, value)
    row.updated_at = utcnow()
    session.flush()


def delete_registered_model_tag(session: Session, project: str, name: str, key: str) -> None:
    row = model_row(session, project, name)
    result = session.execute(
        delete(RegisteredModelTagRow).where(
            RegisteredModelTagRow.model_id == row.id, RegisteredModelTagRow.key == key
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"registered model {name!r} has no tag {key!r}")
