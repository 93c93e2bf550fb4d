"""``/api/v1/audit``: read the audit log of a project (its admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from kiln import auth
from kiln.auth import AuditEntry
from kiln.server.deps import DbDep, ProjectAdmin, RequestProject

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("")
def list_audit_entries(
    db: DbDep,
    caller: ProjectAdmin,
    project: RequestProject,
    actor: str | None = None,
    action: str | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=auth.MAX_AUDIT_PAGE)] = 100,
) -> list[AuditEntry]:
    """Entries of the request's project, newest first; page with ``before_id``."""
    return db.read(
        auth.list_entries,
        project=project,
        actor=actor,
        action=action,
        since=since,
        until=until,
        before_id=before_id,
        limit=limit,
    )
