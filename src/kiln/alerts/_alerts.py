"""Alerts: plain functions taking a ``Session`` first, and the ``Alert`` they return."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db import utcnow
from kiln.db.tables import AlertRow
from kiln.errors import Conflict, InvalidInput, NotFound

__all__ = [
    "Alert",
    "AlertStatus",
    "get_alert",
    "list_alerts",
    "raise_alert",
    "resolve_alert",
]

SEVERITIES = ("warning", "critical")
#: Listings return at most this many alerts.
MAX_LIST = 1000


class AlertStatus(StrEnum):
    """OPEN until a person acts: ACCEPTED (let through as it is) or RESOLVED (fixed)."""

    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    RESOLVED = "RESOLVED"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something that needs a person, about one lineage node (``subject_kind:subject_id``)."""

    id: int
    project: str
    kind: str
    severity: str
    status: AlertStatus
    title: str
    subject_kind: str
    subject_id: str
    details: dict[str, Any]
    report_digest: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None


def _alert(row: AlertRow, project: str) -> Alert:
    return Alert(
        id=row.id,
        project=project,
        kind=row.kind,
        severity=row.severity,
        status=AlertStatus(row.status),
        title=row.title,
        subject_kind=row.subject_kind,
        subject_id=row.subject_id,
        details=json.loads(row.details or "{}"),
        report_digest=row.report_digest,
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )


def raise_alert(
    session: Session,
    project: str,
    *,
    kind: str,
    severity: str,
    title: str,
    subject_kind: str,
    subject_id: str,
    details: dict[str, Any],
    report_digest: str | None = None,
) -> Alert:
    """Record an OPEN alert."""
    if severity not in SEVERITIES:
        raise InvalidInput(
            f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}", field="severity"
        )
    row = AlertRow(
        project_id=_project_id(session, project),
        kind=kind,
        severity=severity,
        status=AlertStatus.OPEN.value,
        title=title,
        subject_kind=subject_kind,
        subject_id=subject_id,
        details=json.dumps(details, sort_keys=True, default=str),
        report_digest=report_digest,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _alert(row, project)


def _row(session: Session, project: str, alert_id: int) -> AlertRow:
    row = session.get(AlertRow, alert_id) if isinstance(alert_id, int) else None
    if row is None or row.project_id != _project_id(session, project):
        raise NotFound(f"alert {alert_id!r} does not exist in project {project!r}")
    return row


def get_alert(session: Session, project: str, alert_id: int) -> Alert:
    return _alert(_row(session, project, alert_id), project)


def list_alerts(
    session: Session,
    project: str,
    *,
    status: AlertStatus | str | None = None,
    subject_kind: str | None = None,
    subject_id: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """The project's alerts, newest first, optionally of one status or one subject."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit!r}", field="limit")
    query = select(AlertRow).where(AlertRow.project_id == _project_id(session, project))
    if status is not None:
        try:
            query = query.where(AlertRow.status == AlertStatus(status).value)
        except ValueError:
            known = ", ".join(s.value for s in AlertStatus)
            raise InvalidInput(
                f"unknown alert status {status!r}; use one of {known}", field="status"
            ) from None
    if subject_kind is not None:
        query = query.where(AlertRow.subject_kind == subject_kind)
    if subject_id is not None:
        query = query.where(AlertRow.subject_id == subject_id)
    query = query.order_by(AlertRow.created_at.desc(), AlertRow.id.desc()).limit(limit)
    return [_alert(row, project) for row in session.scalars(query)]


def resolve_alert(
    session: Session,
    project: str,
    alert_id: int,
    *,
    status: AlertStatus | str,
    by: str,
    resolution: str = "",
) -> Alert:
    """Close an OPEN alert as ACCEPTED or RESOLVED; closing a closed one is a ``Conflict``."""
    try:
        wanted = AlertStatus(status)
    except ValueError:
        wanted = AlertStatus.OPEN
    if wanted is AlertStatus.OPEN:
        raise InvalidInput("an alert is closed as ACCEPTED or RESOLVED", field="status")
    row = _row(session, project, alert_id)
    if row.status != AlertStatus.OPEN.value:
        raise Conflict(f"alert {alert_id} is already {row.status} (by {row.resolved_by or '-'})")
    row.status = wanted.value
    row.resolved_at = utcnow()
    row.resolved_by = by
    row.resolution = resolution
    return _alert(row, project)
