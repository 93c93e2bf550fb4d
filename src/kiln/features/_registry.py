"""Applying feature definitions to the metadata store: versions, the diff, the current set.

``apply_definitions`` compares what the code defines with each name's
newest version in the project: a new name is *added* (version 1, or the
next version after a removal), a different canonical form is *changed* (the
next version), the same is *unchanged* (nothing written), and a name the
code no longer defines is *removed* (a version row marking it). Every read
(``current_definitions``) builds the definitions from the newest versions,
so it always sees the latest apply; nothing is cached between calls.
Services on a ``Session``, called through ``Database.run``/``read``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db.tables import FeatureDefinitionRow
from kiln.errors import Conflict
from kiln.features._definitions import Entity, FeatureService, FeatureView
from kiln.features._loading import Definitions
from kiln.features._on_demand import OnDemandFeatureView

__all__ = [
    "ApplyResult",
    "DefinitionVersion",
    "apply_definitions",
    "current_definitions",
    "current_versions",
    "definition_history",
    "definitions_generation",
]

ENTITY, VIEW, ON_DEMAND, SERVICE = "entity", "feature_view", "on_demand_view", "feature_service"
_ORDER = (ENTITY, VIEW, ON_DEMAND, SERVICE)


@dataclass(frozen=True, slots=True)
class DefinitionVersion:
    """One version of a definition, as stored."""

    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    removed: bool


@dataclass
class ApplyResult:
    """What an apply did, by ``(kind, name, version)``."""

    added: list[tuple[str, str, int]] = field(default_factory=list)
    changed: list[tuple[str, str, int]] = field(default_factory=list)
    removed: list[tuple[str, str, int]] = field(default_factory=list)
    unchanged: list[tuple[str, str, int]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def _canonical(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


def _specs(definitions: Definitions) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, entity in sorted(definitions.entities.items()):
        found[(ENTITY, name)] = entity.to_dict()
    for name, view in sorted(definitions.views.items()):
        found[(VIEW, name)] = view.to_dict()
    for name, on_demand in sorted(definitions.on_demand.items()):
        found[(ON_DEMAND, name)] = on_demand.to_dict()
    for name, service in sorted(definitions.services.items()):
        found[(SERVICE, name)] = service.to_dict()
    return found


def _newest(session: Session, project_id: int) -> dict[tuple[str, str], FeatureDefinitionRow]:
    newest = (
        select(
            FeatureDefinitionRow.kind,
            FeatureDefinitionRow.name,
            func.max(FeatureDefinitionRow.version).label("version"),
        )
        .where(FeatureDefinitionRow.project_id == project_id)
        .group_by(FeatureDefinitionRow.kind, FeatureDefinitionRow.name)
        .subquery()
    )
    rows = session.scalars(
        select(FeatureDefinitionRow)
        .join(
            newest,
            (FeatureDefinitionRow.kind == newest.c.kind)
            & (FeatureDefinitionRow.name == newest.c.name)
            & (FeatureDefinitionRow.version == newest.c.version),
        )
        .where(FeatureDefinitionRow.project_id == project_id)
    )
    return {(row.kind, row.name): row for row in rows}


def apply_definitions(
    session: Session, project: str, definitions: Definitions, *, user: str = ""
) -> ApplyResult:
    """Make ``definitions`` the project's current ones; return the diff (see the module)."""
    project_id = _project_id(session, project)
    wanted = _specs(definitions)
    newest = _newest(session, project_id)
    result = ApplyResult()

    def write(kind: str, name: str, version: int, spec: dict[str, Any], removed: bool) -> None:
        text = _canonical(spec)
        session.add(
            FeatureDefinitionRow(
                project_id=project_id,
                kind=kind,
                name=name,
                version=version,
                spec=text,
                fingerprint=hashlib.sha256(text.encode()).hexdigest(),
                removed=removed,
                created_by=user,
            )
        )

    for (kind, name), spec in wanted.items():
        row = newest.get((kind, name))
        fingerprint = hashlib.sha256(_canonical(spec).encode()).hexdigest()
        if row is None or row.removed:
            version = 1 if row is None else row.version + 1
            write(kind, name, version, spec, False)
            result.added.append((kind, name, version))
        elif row.fingerprint != fingerprint:
            write(kind, name, row.version + 1, spec, False)
            result.changed.append((kind, name, row.version + 1))
        else:
            result.unchanged.append((kind, name, row.version))
    for (kind, name), row in sorted(newest.items()):
        if (kind, name) not in wanted and not row.removed:
            write(kind, name, row.version + 1, json.loads(row.spec), True)
            result.removed.append((kind, name, row.version + 1))
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(
            f"another apply to project {project!r} wrote the same definitions at the same time; "
            "apply again (an apply of unchanged definitions writes nothing)"
        ) from None
    return result


def current_definitions(session: Session, project: str) -> Definitions:
    """The project's definitions as the latest apply left them."""
    project_id = _project_id(session, project)
    rows = [row for row in _newest(session, project_id).values() if not row.removed]
    rows.sort(key=lambda row: (_ORDER.index(row.kind), row.name))
    found = Definitions()
    for row in rows:
        spec = json.loads(row.spec)
        if row.kind == ENTITY:
            found.entities[row.name] = Entity.from_dict(spec)
        elif row.kind == VIEW:
            found.views[row.name] = FeatureView.from_dict(spec, found.entities)
        elif row.kind == ON_DEMAND:
            found.on_demand[row.name] = OnDemandFeatureView.from_dict(spec, found.views)
        else:
            found.services[row.name] = FeatureService.from_dict(spec)
    return found


def definition_history(
    session: Session, project: str, kind: str, name: str
) -> list[DefinitionVersion]:
    """Every version of one definition, oldest first."""
    rows = session.scalars(
        select(FeatureDefinitionRow)
        .where(
            FeatureDefinitionRow.project_id == _project_id(session, project),
            FeatureDefinitionRow.kind == kind,
            FeatureDefinitionRow.name == name,
        )
        .order_by(FeatureDefinitionRow.version)
    )
    return [
        DefinitionVersion(row.kind, row.name, row.version, json.loads(row.spec), row.removed)
        for row in rows
    ]


def current_versions(session: Session, project: str) -> dict[tuple[str, str], int]:
    """The version of each current definition, by ``(kind, name)``."""
    project_id = _project_id(session, project)
    return {
        key: row.version for key, row in _newest(session, project_id).items() if not row.removed
    }


def definitions_generation(session: Session, project: str) -> int:
    """A number that grows with every apply that changed something (0: nothing applied)."""
    from kiln.db.tables import ProjectRow

    found = session.scalar(
        select(func.max(FeatureDefinitionRow.id))
        .join(ProjectRow, ProjectRow.id == FeatureDefinitionRow.project_id)
        .where(ProjectRow.name == project)
    )
    return int(found or 0)
