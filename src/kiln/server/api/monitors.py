"""``/api/v1/monitors`` and ``/api/v1/profiles``: monitors, their windows and reports.

Viewers list and read monitors, their stored windows (flat metrics, or one
window's full JSON), the report document and its HTML page, and the stored
reference profiles; editors create and delete monitors, profile a reference
and evaluate a monitor (which stores its windows). Everything is read
through ``kiln.monitoring``'s services; a monitor's spec is validated by
``MonitorSpec``, whose errors name the setting at fault (``window``).

A window is addressed by its start, as ISO 8601 (the start is what
evaluation aligns windows on, and it is unique within a monitor).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.responses import Response

from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.monitoring._monitors import (
    Monitor,
    create_monitor,
    delete_monitor,
    get_monitor,
    list_monitors,
)
from kiln.monitoring._profiles import StoredProfile, check_profile_name, list_profiles
from kiln.monitoring._results import MAX_RESULTS, MonitorResult, list_results
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(tags=["monitoring"])

NamePath = Annotated[str, Path(min_length=1, max_length=128)]
Since = Annotated[AwareDatetime | None, Query(description="ISO 8601 with a zone")]
Limit = Annotated[int, Query(ge=1, le=MAX_RESULTS)]
#: The report page's own inline style and column-filter script; nothing else loads.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MonitorCreate(_Body):
    name: str = Field(description="1-128 letters, digits, '_', '.' or '-'.")
    target_kind: str = Field(description="deployment or dataset.")
    target: str = Field(description="The deployment's or the dataset's name.")
    # Checked by MonitorSpec, whose errors name the setting at fault.
    spec: dict[str, Any] = Field(description="MonitorSpec settings; profile is required.")
    description: str = Field(default="", max_length=4000)
    replace: bool = Field(default=False, description="Replace a monitor of that name.")


class Evaluate(_Body):
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    version: int | None = Field(default=None, ge=1, description="A dataset monitor's version.")


class ProfileCreate(_Body):
    name: str = Field(description="1-128 letters, digits, '_', '.' or '-'.")
    source: str = Field(
        min_length=1, max_length=600, description="dataset@version, run:<id> or models:/m/v."
    )
    columns: list[str] | None = Field(default=None, description="Default: every column.")


def monitor_to_json(found: Monitor) -> dict[str, Any]:
    return found.to_dict()


def result_to_json(found: MonitorResult) -> dict[str, Any]:
    return found.to_dict()


def profile_to_json(found: StoredProfile) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(found)
    return body | {"ref": found.ref}


def _create(db: DbDep, project: str, body: MonitorCreate, user: str) -> Monitor:
    """The monitor made, a spec value of the wrong type reported as 400 rather than 500."""
    try:
        return db.run(
            create_monitor,
            project,
            body.name,
            target_kind=body.target_kind,
            target=body.target,
            spec=body.spec,
            description=body.description,
            user=user,
            replace=body.replace,
        )
    except TypeError as error:  # e.g. thresholds given as a number, reaching the dataclass
        raise InvalidInput(f"malformed spec: {error}", field="spec") from None


@router.get("/monitors")
def list_all(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """Every monitor of the project, by name."""
    found = db.read(list_monitors, project)
    return JSONResponse({"monitors": [monitor_to_json(m) for m in found]})


@router.post("/monitors", status_code=201)
def create(
    body: MonitorCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """A new monitor, its profile pinned to a version (409 when the name is taken)."""
    note_audit_target(request.scope, monitor=body.name)
    found = _create(db, project, body, caller.user)
    return JSONResponse(monitor_to_json(found), status_code=201)


@router.get("/monitors/{monitor}")
def describe(
    monitor: NamePath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    limit: Annotated[int, Query(ge=1, le=1000, description="newest windows")] = 10,
) -> JSONResponse:
    """The monitor with its newest ``limit`` windows (oldest first) as ``results``."""
    found = db.read(get_monitor, project, monitor)
    results = db.read(list_results, project, monitor, limit=limit)
    return JSONResponse({**monitor_to_json(found), "results": [result_to_json(r) for r in results]})


@router.delete("/monitors/{monitor}", status_code=204)
def delete(monitor: NamePath, db: DbDep, caller: Editor, project: RequestProject) -> Response:
    """Delete the monitor with its windows and alert rules; raised alerts stay."""
    db.run(delete_monitor, project, monitor)
    return Response(status_code=204)


@router.post("/monitors/{monitor}/evaluate")
def evaluate(
    monitor: NamePath, body: Evaluate, context: ContextDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Evaluate the windows in ``[since, until)`` (or a dataset's version) and store them."""
    from kiln.monitoring._evaluate import evaluate_monitor

    found = evaluate_monitor(
        context, project, monitor, since=body.since, until=body.until, version=body.version
    )
    return JSONResponse({"monitor": monitor, "results": [result_to_json(r) for r in found]})


@router.get("/monitors/{monitor}/results")
def results(
    monitor: NamePath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    since: Since = None,
    until: Since = None,
    limit: Limit = 1000,
) -> JSONResponse:
    """Windows ending in ``(since, until]``, oldest first: their flat metrics, no blobs read."""
    found = db.read(list_results, project, monitor, since=since, until=until, limit=limit)
    return JSONResponse({"monitor": monitor, "results": [result_to_json(r) for r in found]})


def _window_starting(db: DbDep, project: str, monitor: str, start: datetime) -> MonitorResult:
    # Every window ends at or after its start, so the windows ending after just before
    # ``start`` hold it; results come oldest first.
    after = db.read(
        list_results, project, monitor, since=start - timedelta(microseconds=1), limit=MAX_RESULTS
    )
    for result in after:
        if result.start == start:
            return result
    raise NotFound(
        f"monitor {monitor!r} has no window starting at {start.isoformat()}; "
        f"GET /api/v1/monitors/{monitor}/results lists its windows"
    )


@router.get("/monitors/{monitor}/windows/{start}")
def window(
    monitor: NamePath,
    start: Annotated[AwareDatetime, Path(description="The window's start, ISO 8601")],
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
) -> Response:
    """One window's full report: drift per column with its overlays, quality, performance…"""
    found = _window_starting(context.db, project, monitor, start)
    return Response(context.artifacts.read_bytes(found.digest), media_type="application/json")


@router.get("/monitors/{monitor}/report")
def report(
    monitor: NamePath,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    since: Since = None,
    until: Since = None,
) -> JSONResponse:
    """The report document of the stored windows (docs/monitoring-report.md)."""
    from kiln.monitoring._report import monitor_report

    return JSONResponse(monitor_report(context, project, monitor, since=since, until=until))


@router.get("/monitors/{monitor}/report.html")
def report_html(
    monitor: NamePath,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    since: Since = None,
    until: Since = None,
) -> Response:
    """The report as one self-contained HTML page (inline CSS, SVG and one small script)."""
    from kiln.monitoring._report import monitor_report
    from kiln.monitoring._report_html import render_html

    page = render_html(monitor_report(context, project, monitor, since=since, until=until))
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _REPORT_CSP},
    )


@router.get("/profiles")
def profiles(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    name: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> JSONResponse:
    """Stored reference profiles (every version), newest first; ``name`` keeps one's."""
    found = db.read(list_profiles, project, name=name)
    return JSONResponse({"profiles": [profile_to_json(p) for p in found]})


@router.post("/profiles", status_code=201)
def create_profile(
    body: ProfileCreate,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Profile a dataset version (or a run's training data) as the next version of ``name``."""
    from kiln.monitoring._profiles import create_profile as service

    note_audit_target(request.scope, profile=body.name)
    check_profile_name(body.name)
    try:
        stored, sketches = service(
            context, project, body.name, body.source, columns=body.columns, user=caller.user
        )
    except KilnError as error:
        # The name was checked above, so a "name" at fault is the source's dataset name.
        if error.field == "name":
            error.field = "source"
        raise
    answer = profile_to_json(stored) | {"skipped": dict(sketches.skipped)}
    return JSONResponse(answer, status_code=201)
