"""Monitors: services on a ``Session`` that create, read, list and delete them.

A monitor watches a target — ``deployment`` (the windows of its prediction
log) or ``dataset`` (its versions) — with a :class:`MonitorSpec`. Creating
one pins the spec's profile to a version, so a later profile of the same
name never changes what an existing monitor compares with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import MonitorRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.monitoring._monitor_spec import MonitorSpec
from kiln.monitoring._names import check_name

__all__ = [
    "TARGET_KINDS",
    "Monitor",
    "check_monitor_name",
    "create_monitor",
    "delete_monitor",
    "get_monitor",
    "list_monitors",
    "monitor_row",
]

TARGET_KINDS = ("deployment", "dataset")


@dataclass(frozen=True, slots=True)
class Monitor:
    """A monitor's record: its target and spec."""

    id: int
    project: str
    name: str
    description: str
    target_kind: str
    target: str
    spec: MonitorSpec
    created_at: datetime
    created_by: str
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "description": self.description,
            "target_kind": self.target_kind,
            "target": self.target,
            "spec": self.spec.to_dict(),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
        }


def check_monitor_name(name: Any, *, field: str = "name") -> str:
    return check_name(name, what="monitor", field=field)


def _monitor(row: MonitorRow, project: str) -> Monitor:
    return Monitor(
        id=row.id,
        project=project,
        name=row.name,
        description=row.description,
        target_kind=row.target_kind,
        target=row.target,
        spec=MonitorSpec.from_dict(json.loads(row.spec)),
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def _check_target(session: Session, project: str, kind: str, target: Any) -> str:
    if kind not in TARGET_KINDS:
        raise InvalidInput(
            f"target kind must be deployment or dataset, got {kind!r}", field="target_kind"
        )
    if kind == "deployment":
        from kiln.serving._predictions_index import check_deployment

        return check_deployment(target, field="target")
    from kiln.data._datasets import get_dataset

    get_dataset(session, project, target)
    return str(target)


def _pinned(session: Session, project: str, spec: MonitorSpec) -> MonitorSpec:
    from kiln.monitoring._profiles import get_stored_profile

    stored = get_stored_profile(session, project, spec.profile)
    return MonitorSpec.from_dict(spec.to_dict() | {"profile": stored.ref})


def create_monitor(
    session: Session,
    project: str,
    name: str,
    *,
    target_kind: str,
    target: str,
    spec: MonitorSpec | dict[str, Any],
    description: str = "",
    user: str = "",
    replace: bool = False,
) -> Monitor:
    """Record a monitor; ``AlreadyExists`` if ``name`` is taken, unless ``replace``."""
    check_monitor_name(name)
    checked = spec if isinstance(spec, MonitorSpec) else MonitorSpec.from_dict(spec)
    target = _check_target(session, project, target_kind, target)
    pinned = _pinned(session, project, checked)
    owner = project_id(session, project)
    row = session.scalars(
        select(MonitorRow).where(MonitorRow.project_id == owner, MonitorRow.name == name)
    ).first()
    text = json.dumps(pinned.to_dict(), sort_keys=True, default=str)
    if row is not None and not replace:
        raise AlreadyExists(
            f"monitor {name!r} exists in project {project!r}; pass replace=True (--replace) "
            "to change it"
        )
    now = utcnow()
    if row is None:
        row = MonitorRow(project_id=owner, name=name, created_by=user, created_at=now)
        session.add(row)
    row.description = description
    row.target_kind = target_kind
    row.target = target
    row.spec = text
    row.updated_at = now
    session.flush()
    return _monitor(row, project)


def monitor_row(session: Session, project: str, name: str) -> MonitorRow:
    row = session.scalars(
        select(MonitorRow).where(
            MonitorRow.project_id == project_id(session, project),
            MonitorRow.name == check_monitor_name(name),
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no monitor {name!r} in project {project!r}; `kiln monitor list` shows the monitors"
        )
    return row


def get_monitor(session: Session, project: str, name: str) -> Monitor:
    return _monitor(monitor_row(session, project, name), project)


def list_monitors(session: Session, project: str) -> list[Monitor]:
    rows = session.scalars(
        select(MonitorRow)
        .where(MonitorRow.project_id == project_id(session, project))
        .order_by(MonitorRow.name)
    )
    return [_monitor(row, project) for row in rows]


def delete_monitor(session: Session, project: str, name: str) -> None:
    """Delete a monitor with its results and alert rules (raised alerts stay)."""
    session.delete(monitor_row(session, project, name))
