"""Finding rows by name and turning them into domain objects (shared by the services)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db.tables import (
    ModelAliasRow,
    ModelVersionRow,
    ModelVersionTagRow,
    ProjectRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from kiln.errors import NotFound
from kiln.registry._entities import ModelVersion, ModelVersionStatus, RegisteredModel
from kiln.registry._names import check_model_name, parse_version


def model_row(
    session: Session, project: str, name: str, *, lock: bool = False
) -> RegisteredModelRow:
    """The row of registered model ``name`` in ``project``, or ``NotFound``.

    ``lock=True`` takes the row's write lock (``FOR UPDATE`` on PostgreSQL;
    SQLite writers hold the database lock already), so alias moves and version
    numbering of one model happen one at a time.
    """
    check_model_name(name)
    query = (
        select(RegisteredModelRow)
        .join(ProjectRow, ProjectRow.id == RegisteredModelRow.project_id)
        .where(RegisteredModelRow.name == name, ProjectRow.name == project)
    )
    if lock:
        query = query.with_for_update(of=RegisteredModelRow)
    row = session.scalar(query)
    if row is None:
        raise NotFound(f"registered model {name!r} does not exist in project {project!r}")
    return row


def version_row(session: Session, model: RegisteredModelRow, version: int | str) -> ModelVersionRow:
    number = parse_version(version)
    row = session.scalar(
        select(ModelVersionRow).where(
            ModelVersionRow.model_id == model.id, ModelVersionRow.version == number
        )
    )
    if row is None:
        raise NotFound(f"registered model {model.name!r} has no version {number}")
    return row


def load_models(
    session: Session, project: str, rows: Sequence[RegisteredModelRow]
) -> list[RegisteredModel]:
    """Registered models with their tags, aliases and latest version, in three queries."""
    ids = [row.id for row in rows]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, dict[str, int]] = defaultdict(dict)
    latest: dict[int, int] = {}
    if ids:
        for model_id, key, value in session.execute(
            select(
                RegisteredModelTagRow.model_id,
                RegisteredModelTagRow.key,
                RegisteredModelTagRow.value,
            ).where(RegisteredModelTagRow.model_id.in_(ids))
        ):
            tags[model_id][key] = value
        for model_id, alias, number in session.execute(
            select(ModelAliasRow.model_id, ModelAliasRow.alias, ModelVersionRow.version)
            .join(ModelVersionRow, ModelVersionRow.id == ModelAliasRow.version_id)
            .where(ModelAliasRow.model_id.in_(ids))
            .order_by(ModelAliasRow.alias)
        ):
            aliases[model_id][alias] = number
        latest = dict(
            session.execute(
                select(ModelVersionRow.model_id, func.max(ModelVersionRow.version))
                .where(ModelVersionRow.model_id.in_(ids))
                .group_by(ModelVersionRow.model_id)
            ).all()
        )
    return [
        RegisteredModel(
            name=row.name,
            project=project,
            description=row.description,
            created_at=row.created_at,
            updated_at=row.updated_at,
            latest_version=latest.get(row.id),
            tags=tags.get(row.id, {}),
            aliases=aliases.get(row.id, {}),
        )
        for row in rows
    ]


def load_versions(session: Session, rows: Sequence[ModelVersionRow]) -> list[ModelVersion]:
    """Model versions with their tags and aliases, in three queries."""
    ids = [row.id for row in rows]
    names: dict[int, str] = {}
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    aliases: dict[int, list[str]] = defaultdict(list)
    if ids:
        model_ids = sorted({row.model_id for row in rows})
        names = dict(
            session.execute(
                select(RegisteredModelRow.id, RegisteredModelRow.name).where(
                    RegisteredModelRow.id.in_(model_ids)
                )
            ).all()
        )
        for version_id, key, value in session.execute(
            select(
                ModelVersionTagRow.version_id, ModelVersionTagRow.key, ModelVersionTagRow.value
            ).where(ModelVersionTagRow.version_id.in_(ids))
        ):
            tags[version_id][key] = value
        for version_id, alias in session.execute(
            select(ModelAliasRow.version_id, ModelAliasRow.alias)
            .where(ModelAliasRow.version_id.in_(ids))
            .order_by(ModelAliasRow.alias)
        ):
            aliases[version_id].append(alias)
    return [
        ModelVersion(
            name=names[row.model_id],
            version=row.version,
            source=row.source,
            run_id=row.run_id,
            manifest_sha256=row.manifest_sha256,
            flavor=row.flavor,
            description=row.description,
            status=ModelVersionStatus(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
            tags=tags.get(row.id, {}),
            aliases=tuple(aliases.get(row.id, ())),
        )
        for row in rows
    ]
