"""``/api/v1/alerts``: what needs a person (a paused quality gate, …), and closing it.

Viewers read; editors accept (let it through as it is) or resolve (the cause
was fixed). Accepting an alert does not resume its paused run: ``POST
/api/v1/pipeline-runs/{id}/resume`` with ``{"accept": true}`` does both.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kiln.alerts import Alert, AlertStatus
from kiln.alerts._alerts import MAX_LIST
from kiln.errors import NotFound
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/alerts", tags=["alerts"])

AlertId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class Close(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=4000)


def alert_to_json(alert: Alert) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(alert)
    return body


@router.get("")
def list_alerts(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    status: AlertStatus | None = None,
    subject: Annotated[
        str | None, Query(min_length=3, max_length=600, description="kind:id of the subject")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
) -> JSONResponse:
    """Alerts newest first; ``subject`` (``step_run:RUN/check``) keeps one node's."""
    from kiln.alerts import list_alerts as service
    from kiln.lineage import Node

    kind = ident = None
    if subject is not None:
        parsed = Node.parse(subject)
        kind, ident = parsed.kind, parsed.id
    found = db.read(
        service, project, status=status, subject_kind=kind, subject_id=ident, limit=limit
    )
    return JSONResponse([alert_to_json(alert) for alert in found])


@router.get("/{alert_id}")
def get_alert(
    alert_id: AlertId, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.alerts import get_alert as service

    return JSONResponse(alert_to_json(db.read(service, project, alert_id)))


@router.get("/{alert_id}/report")
def get_report(
    alert_id: AlertId, context: ContextDep, caller: Viewer, project: RequestProject
) -> Response:
    """The alert's report as a self-contained HTML page (no scripts)."""
    from kiln.alerts import get_alert as service

    alert = context.db.read(service, project, alert_id)
    if alert.report_digest is None or not context.artifacts.exists(alert.report_digest):
        raise NotFound(f"alert {alert_id} has no report in the artifact store")
    return Response(
        context.artifacts.read_bytes(alert.report_digest),
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


def _close(
    db: DbDep, project: str, alert_id: int, status: AlertStatus, by: str, note: str
) -> JSONResponse:
    from kiln.alerts import resolve_alert

    alert = db.run(resolve_alert, project, alert_id, status=status, by=by, resolution=note)
    return JSONResponse(alert_to_json(alert))


@router.post("/{alert_id}/accept")
def accept_alert(
    alert_id: AlertId, body: Close, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Close an OPEN alert as ACCEPTED; 409 when it is closed already."""
    return _close(db, project, alert_id, AlertStatus.ACCEPTED, caller.user, body.note)


@router.post("/{alert_id}/resolve")
def resolve_alert(
    alert_id: AlertId, body: Close, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Close an OPEN alert as RESOLVED; 409 when it is closed already."""
    return _close(db, project, alert_id, AlertStatus.RESOLVED, caller.user, body.note)
