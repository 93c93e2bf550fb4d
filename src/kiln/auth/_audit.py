"""The audit log: an append-only record of every mutating API call."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth._models import AuditEntry
from kiln.db.tables import AuditLogRow
from kiln.errors import InvalidInput

MAX_AUDIT_PAGE = 1000


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What is known of a call when it is recorded."""

    action: str
    method: str
    path: str
    status_code: int
    outcome: str
    actor: str | None = None
    token_id: str | None = None
    project: str | None = None
    target: str | None = None
    request_id: str | None = None
    client: str | None = None


def record(session: Session, entry: AuditRecord) -> None:
    """Append one entry. The database refuses updates and deletes of the log."""
    session.add(
        AuditLogRow(
            actor=entry.actor,
            token_id=entry.token_id,
            project=entry.project,
            action=entry.action[:128],
            method=entry.method[:8],
            path=entry.path[:1024],
            target=entry.target[:512] if entry.target else None,
            status_code=entry.status_code,
            outcome=entry.outcome,
            request_id=entry.request_id,
            client=entry.client,
        )
    )


def list_entries(
    session: Session,
    *,
    project: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first; page backwards with ``before_id`` (the last id seen)."""
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        raise InvalidInput(f"limit {limit} is out of range 1..{MAX_AUDIT_PAGE}", field="limit")
    query = select(AuditLogRow).order_by(AuditLogRow.id.desc()).limit(limit)
    if project is not None:
        query = query.where(AuditLogRow.project == project)
    if actor is not None:
        query = query.where(AuditLogRow.actor == actor)
    if action is not None:
        query = query.where(AuditLogRow.action == action)
    if since is not None:
        query = query.where(AuditLogRow.at >= since)
    if until is not None:
        query = query.where(AuditLogRow.at < until)
    if before_id is not None:
        query = query.where(AuditLogRow.id < before_id)
    return [
        AuditEntry(
            id=row.id,
            at=row.at,
            actor=row.actor,
            token_id=row.token_id,
            project=row.project,
            action=row.action,
            method=row.method,
            path=row.path,
            target=row.target,
            status_code=row.status_code,
            outcome=row.outcome,
            request_id=row.request_id,
            client=row.client,
        )
        for row in session.scalars(query)
    ]
