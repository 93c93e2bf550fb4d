"""``/api/v1/monitors/{monitor}/rules``: alert rules on a monitor's metrics.

Viewers list and read rules (webhook and SMTP secrets masked); editors add,
change, enable or disable and delete them. A rule's condition is given as
text (``"drift.share > 0.3"``) or as ``metric``, ``operator`` and
``threshold``; ``kiln.monitoring._rules`` validates every field and names
the one at fault.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kiln.errors import InvalidInput
from kiln.monitoring._rules import (
    create_rule,
    delete_rule,
    get_rule,
    list_rules,
    parse_condition,
    set_rule_enabled,
)
from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(tags=["monitoring"])

NamePath = Annotated[str, Path(min_length=1, max_length=128)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleCreate(_Body):
    name: str = Field(description="1-128 letters, digits, '_', '.' or '-'.")
    condition: str | None = Field(default=None, description="e.g. 'drift.share > 0.3'.")
    metric: str | None = None
    operator: str | None = Field(default=None, description=">, >=, < or <=.")
    threshold: float | None = None
    severity: str = Field(default="warning", description="warning or critical.")
    sinks: list[dict[str, Any]] = Field(default_factory=list, description="Sink specs.")
    pipeline: str | None = Field(default=None, description="module:function to run on firing.")
    pipeline_params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    replace: bool = Field(default=False, description="Change a rule of that name.")


class RuleChange(_Body):
    enabled: bool


def _condition(body: RuleCreate) -> tuple[str, str, float]:
    if body.condition is not None:
        if body.metric is not None or body.operator is not None or body.threshold is not None:
            raise InvalidInput(
                "give condition, or metric, operator and threshold, not both", field="condition"
            )
        return parse_condition(body.condition)
    if body.metric is None or body.operator is None or body.threshold is None:
        raise InvalidInput(
            "a rule needs condition, or all of metric, operator and threshold", field="condition"
        )
    return body.metric, body.operator, body.threshold


@router.get("/monitors/{monitor}/rules")
def rules(monitor: NamePath, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The monitor's rules, by name."""
    found = db.read(list_rules, project, monitor)
    return JSONResponse({"monitor": monitor, "rules": [rule.to_dict() for rule in found]})


@router.post("/monitors/{monitor}/rules", status_code=201)
def add(
    monitor: NamePath,
    body: RuleCreate,
    request: Request,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """A new rule (409 when the monitor has one of that name, unless ``replace``)."""
    note_audit_target(request.scope, monitor=monitor, rule=body.name)
    metric, operator, threshold = _condition(body)
    found = db.run(
        create_rule,
        project,
        monitor,
        body.name,
        metric=metric,
        operator=operator,
        threshold=threshold,
        severity=body.severity,
        sinks=body.sinks,
        pipeline=body.pipeline,
        pipeline_params=body.pipeline_params,
        enabled=body.enabled,
        replace=body.replace,
    )
    return JSONResponse(found.to_dict(), status_code=201)


@router.get("/monitors/{monitor}/rules/{rule}")
def describe(
    monitor: NamePath, rule: NamePath, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return JSONResponse(db.read(get_rule, project, monitor, rule).to_dict())


@router.patch("/monitors/{monitor}/rules/{rule}")
def change(
    monitor: NamePath,
    rule: NamePath,
    body: RuleChange,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Enable or disable a rule."""
    return JSONResponse(db.run(set_rule_enabled, project, monitor, rule, body.enabled).to_dict())


@router.delete("/monitors/{monitor}/rules/{rule}", status_code=204)
def delete(
    monitor: NamePath, rule: NamePath, db: DbDep, caller: Editor, project: RequestProject
) -> Response:
    """Delete a rule; the alerts it raised stay."""
    db.run(delete_rule, project, monitor, rule)
    return Response(status_code=204)
