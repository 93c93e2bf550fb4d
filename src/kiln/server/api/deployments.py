"""``/api/v1/deployments``: deployment records, their traffic and history, stats and labels.

Viewers list, describe and read a deployment's traffic statistics (from the
prediction log, ``kiln.serving._deployment_stats``); editors create one,
set its traffic, roll it back and post ground-truth labels. Each change is a
new revision, recorded with the caller as its author; a model server
serving the deployment picks it up within a second. The ``deployment``
path parameter names the audit entry's target.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kiln.errors import InvalidInput
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse
from kiln.serving._deployments import (
    Deployment,
    create_deployment,
    deployment_history,
    get_deployment,
    list_deployments,
    rollback_deployment,
    set_traffic,
)
from kiln.serving._routing import TrafficPolicy

router = APIRouter(prefix="/deployments", tags=["deployments"])

NamePath = Annotated[str, Path(min_length=1, max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeploymentCreate(_Body):
    name: str = Field(description="1-128 letters, digits, '_', '.' or '-'.")
    policy: dict[str, Any] = Field(description="A traffic policy (docs/serving-traffic.md).")
    description: str = ""


class TrafficSet(_Body):
    policy: dict[str, Any] = Field(description="The new traffic policy.")
    note: str = Field(default="", description="Why: kept in the deployment's history.")


class Rollback(_Body):
    to_revision: int | None = Field(
        default=None, description="The revision whose policy comes back (default: the previous)."
    )
    note: str = ""


class Labels(_Body):
    # Checked by the service, whose errors name the label at fault (``labels.<id>``).
    labels: Any = Field(
        description='{"<request id>": label} or [{"request_id": "...", "label": ...}]'
    )


def _policy(data: dict[str, Any]) -> TrafficPolicy:
    """The body's policy, its errors naming the field inside the body (``policy.arms[1]``)."""
    try:
        return TrafficPolicy.from_dict(data)
    except InvalidInput as error:
        raise InvalidInput(error.message, field=f"policy.{error.field or ''}".rstrip(".")) from None
    except TypeError as error:  # a key of the wrong shape reaching a dataclass
        raise InvalidInput(f"malformed policy: {error}", field="policy") from None


def deployment_to_json(found: Deployment) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(found.to_dict())
    return body


@router.get("")
def list_all(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """Every deployment of the project, by name."""
    found = db.read(list_deployments, project)
    return JSONResponse({"deployments": [deployment_to_json(d) for d in found]})


@router.post("", status_code=201)
def create(
    body: DeploymentCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """A new deployment at revision 1 (409 when the name is taken)."""
    note_audit_target(request.scope, deployment=body.name)
    found = db.run(
        create_deployment,
        project,
        body.name,
        _policy(body.policy),
        description=body.description,
        user=caller.user,
    )
    return JSONResponse(deployment_to_json(found), status_code=201)


@router.get("/{deployment}")
def describe(
    deployment: NamePath, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """The deployment with its ``history``: every revision, newest first."""
    found = db.read(get_deployment, project, deployment)
    history = db.read(deployment_history, project, deployment)
    return JSONResponse({**deployment_to_json(found), "history": jsonable(history)})


@router.put("/{deployment}/traffic")
def put_traffic(
    deployment: NamePath, body: TrafficSet, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """A new policy, as the next revision."""
    found = db.run(
        set_traffic, project, deployment, _policy(body.policy), note=body.note, user=caller.user
    )
    return JSONResponse(deployment_to_json(found))


@router.post("/{deployment}/rollback")
def rollback(
    deployment: NamePath,
    body: Rollback,
    request: Request,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """The policy of ``to_revision`` (default: the one before) back, as a new revision."""
    note_audit_target(request.scope, to_revision=body.to_revision)
    found = db.run(
        rollback_deployment,
        project,
        deployment,
        to_revision=body.to_revision,
        note=body.note,
        user=caller.user,
    )
    return JSONResponse(deployment_to_json(found))


@router.get("/{deployment}/stats")
def stats(
    deployment: NamePath,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    since: Annotated[
        str, Query(max_length=64, description="1h, 30m, 7d (back from until) or ISO 8601")
    ] = "1h",
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601; default now")] = None,
    bucket: Annotated[
        str | None, Query(max_length=16, description="60, 30s, 5m, 1h; default: about 60")
    ] = None,
) -> JSONResponse:
    """Requests per bucket, latency and errors per route and version, shadow agreement."""
    from kiln.serving._deployment_stats import deployment_stats, parse_duration

    context.db.read(get_deployment, project, deployment)  # 404 for an unknown one
    start = _since(since, until)
    found = deployment_stats(
        context,
        project,
        deployment,
        since=start,
        until=until,
        bucket=None if bucket is None else parse_duration(bucket, field="bucket"),
    )
    return JSONResponse(jsonable(found.to_dict()))


def _since(text: str, until: datetime | None) -> datetime:
    """``since`` as a length back from ``until`` (or now), or as an ISO 8601 time."""
    from kiln.db import utcnow
    from kiln.serving._deployment_stats import parse_duration

    if text[:1].isdigit() and "-" not in text and ":" not in text:
        back: timedelta = parse_duration(text, field="since")
        return (until or utcnow()) - back
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"since must be a length of time (1h, 30m, 7d) or an ISO 8601 time, got {text!r}",
            field="since",
        ) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"since needs a time zone, e.g. {text}Z for UTC", field="since")
    return moment


@router.post("/{deployment}/labels")
def post_labels(
    deployment: NamePath, body: Labels, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Ground truth for logged requests, by request id; a label posted again replaces it."""
    from kiln.serving._predictions_labels import post_labels as post

    db.read(get_deployment, project, deployment)  # 404 for an unknown one
    done = db.run(post, project, deployment, body.labels)
    return JSONResponse({"deployment": deployment, "added": done.added, "replaced": done.replaced})
