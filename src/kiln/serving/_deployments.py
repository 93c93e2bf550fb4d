"""Deployments as records: a named endpoint, its traffic policy, and every revision of it.

A deployment names what answers its requests (``kiln.serving.TrafficPolicy``:
arms such as ``fraud@champion`` or ``fraud/3`` with weights, shadows, or a
bandit). Creating it, changing its traffic and rolling it back each make a
new revision, kept in ``deployment_events`` with who and why; a server
serving the deployment watches the revision and reloads when it moves. An
arm names a registered model (``name@alias``, ``name/3``, ``name/latest``)
or a full model URI. Services on a ``Session``, called through
``Database.run``/``read``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db import utcnow
from kiln.db.tables import DeploymentEventRow, DeploymentRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.serving._routing import TrafficPolicy

__all__ = [
    "Deployment",
    "DeploymentEvent",
    "arm_uri",
    "create_deployment",
    "deployment_history",
    "get_deployment",
    "list_deployments",
    "rollback_deployment",
    "save_bandit_state",
    "set_traffic",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:", "graph:", "file:", "/", "./", "../")


@dataclass(frozen=True, slots=True)
class Deployment:
    """A deployment as stored: its policy at ``revision`` and its bandit's saved state."""

    name: str
    project: str
    description: str
    policy: TrafficPolicy
    revision: int
    bandit_state: dict[str, Any] | None
    created_at: datetime
    created_by: str
    updated_at: datetime

    def arms(self) -> list[str]:
        """Every arm the policy names, primary arms first, then shadows."""
        names = [arm.name for arm in self.policy.arms]
        return names + [s for s in self.policy.shadows if s not in names]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "description": self.description,
            "policy": self.policy.to_dict(),
            "revision": self.revision,
            "bandit_state": self.bandit_state,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    """One revision: ``create``, ``set`` or ``rollback``, with its policy and note."""

    revision: int
    action: str
    policy: dict[str, Any]
    note: str
    created_at: datetime
    created_by: str


def arm_uri(arm: str) -> str:
    """The model URI of an arm: ``fraud@champion`` → ``models:/fraud@champion``."""
    if arm.startswith(_SCHEMES):
        return arm
    return f"models:/{arm}"


def check_deployment_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"a deployment name must be 1-128 letters, digits, '_', '.' or '-', got {name!r}",
            field="name",
        )
    return name


def _policy(policy: TrafficPolicy | dict[str, Any]) -> TrafficPolicy:
    if isinstance(policy, TrafficPolicy):
        return policy
    if not isinstance(policy, dict):
        raise InvalidInput("a traffic policy is an object with arms", field="policy")
    return TrafficPolicy.from_dict(policy)


def _row(session: Session, project: str, name: str) -> DeploymentRow:
    row = session.scalar(
        select(DeploymentRow).where(
            DeploymentRow.project_id == _project_id(session, project), DeploymentRow.name == name
        )
    )
    if row is None:
        raise NotFound(
            f"no deployment {name!r} in project {project!r}; "
            "`kiln deployments list` shows the project's deployments",
            field="name",
        )
    return row


def _entity(row: DeploymentRow, project: str) -> Deployment:
    return Deployment(
        name=row.name,
        project=project,
        description=row.description,
        policy=TrafficPolicy.from_dict(json.loads(row.policy)),
        revision=row.revision,
        bandit_state=json.loads(row.bandit_state) if row.bandit_state else None,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


def _event(
    session: Session, row: DeploymentRow, action: str, note: str, user: str
) -> DeploymentEventRow:
    event = DeploymentEventRow(
        deployment_id=row.id,
        revision=row.revision,
        action=action,
        policy=row.policy,
        note=str(note),
        created_by=user,
    )
    session.add(event)
    return event


def create_deployment(
    session: Session,
    project: str,
    name: str,
    policy: TrafficPolicy | dict[str, Any],
    *,
    description: str = "",
    user: str = "",
) -> Deployment:
    """A new deployment at revision 1 (``AlreadyExists`` when the name is taken)."""
    check_deployment_name(name)
    checked = _policy(policy)
    project_id = _project_id(session, project)
    taken = session.scalar(
        select(DeploymentRow.id).where(
            DeploymentRow.project_id == project_id, DeploymentRow.name == name
        )
    )
    if taken is not None:
        raise AlreadyExists(
            f"deployment {name!r} exists in project {project!r}; change its traffic with "
            f"`kiln deployments set-traffic {name}`",
            field="name",
        )
    row = DeploymentRow(
        project_id=project_id,
        name=name,
        description=str(description),
        policy=json.dumps(checked.to_dict(), sort_keys=True),
        revision=1,
        bandit_state="",
        created_by=user,
    )
    session.add(row)
    session.flush()
    _event(session, row, "create", "", user)
    session.flush()
    return _entity(row, project)


def get_deployment(session: Session, project: str, name: str) -> Deployment:
    return _entity(_row(session, project, name), project)


def deployment_revision(session: Session, project: str, name: str) -> int:
    """The current revision only: the cheap question a watching server asks each second."""
    return _row(session, project, name).revision


def list_deployments(session: Session, project: str) -> list[Deployment]:
    rows = session.scalars(
        select(DeploymentRow)
        .where(DeploymentRow.project_id == _project_id(session, project))
        .order_by(DeploymentRow.name)
    )
    return [_entity(row, project) for row in rows]


def set_traffic(
    session: Session,
    project: str,
    name: str,
    policy: TrafficPolicy | dict[str, Any],
    *,
    note: str = "",
    user: str = "",
) -> Deployment:
    """Give the deployment a new policy: the next revision (the row is locked meanwhile)."""
    checked = _policy(policy)
    row = _locked(session, project, name)
    row.policy = json.dumps(checked.to_dict(), sort_keys=True)
    row.revision += 1
    row.updated_at = utcnow()
    _event(session, row, "set", note, user)
    session.flush()
    return _entity(row, project)


def _locked(session: Session, project: str, name: str) -> DeploymentRow:
    row = _row(session, project, name)
    locked = session.scalar(
        select(DeploymentRow).where(DeploymentRow.id == row.id).with_for_update()
    )
    assert locked is not None
    return locked


def rollback_deployment(
    session: Session,
    project: str,
    name: str,
    *,
    to_revision: int | None = None,
    note: str = "",
    user: str = "",
) -> Deployment:
    """Bring back the policy of ``to_revision`` (default: the one before the current) as new."""
    row = _locked(session, project, name)
    target = row.revision - 1 if to_revision is None else to_revision
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise InvalidInput(
            f"deployment {name!r} is at revision {row.revision}: there is nothing to roll back to"
            if to_revision is None
            else f"revision must be >= 1, got {to_revision!r}",
            field="to_revision",
        )
    if target >= row.revision:
        raise InvalidInput(
            f"revision {target} is not before the current revision {row.revision}",
            field="to_revision",
        )
    event = session.scalar(
        select(DeploymentEventRow).where(
            DeploymentEventRow.deployment_id == row.id, DeploymentEventRow.revision == target
        )
    )
    if event is None:
        raise NotFound(f"deployment {name!r} has no revision {target}", field="to_revision")
    row.policy = event.policy
    row.revision += 1
    row.updated_at = utcnow()
    _event(session, row, "rollback", note or f"back to revision {target}", user)
    session.flush()
    return _entity(row, project)


def deployment_history(session: Session, project: str, name: str) -> list[DeploymentEvent]:
    """Every revision, newest first."""
    row = _row(session, project, name)
    events = session.scalars(
        select(DeploymentEventRow)
        .where(DeploymentEventRow.deployment_id == row.id)
        .order_by(DeploymentEventRow.revision.desc())
    )
    return [
        DeploymentEvent(
            revision=event.revision,
            action=event.action,
            policy=json.loads(event.policy),
            note=event.note,
            created_at=event.created_at,
            created_by=event.created_by,
        )
        for event in events
    ]


def save_bandit_state(session: Session, project: str, name: str, state: dict[str, Any]) -> None:
    """Keep what a bandit has learnt, so a restarted server goes on from there."""
    row = _row(session, project, name)
    row.bandit_state = json.dumps(state)
    session.flush()
