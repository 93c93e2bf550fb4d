"""``/api/v1/registered-models`` and ``/api/v1/model-versions``: the model registry.

Viewers read; editors register versions, tag, describe and move aliases;
project admins delete registered models, set gates and force an alias past
failed checks. Path parameters (``model``, ``version``, ``alias``) name the
audit entry's target.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from kiln.auth import Role, require_role
from kiln.registry import _aliases, _gates, _models, _search, _versions, _wire
from kiln.registry._checks import result_from_json, result_to_json
from kiln.registry._entities import CheckResult
from kiln.server.deps import DbDep, Editor, ProjectAdmin, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(tags=["registry"])
MODELS = "/registered-models"
MODEL = MODELS + "/{model}"
VERSION = MODEL + "/versions/{version}"
ALIAS = MODEL + "/aliases/{alias}"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCreate(_Body):
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class ModelUpdate(_Body):
    name: str | None = Field(default=None, description="A new name (rename).")
    description: str | None = None


class TagValue(_Body):
    value: str


class VersionCreate(_Body):
    name: str
    source: str
    run_id: str | None = None
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    manifest_sha256: str | None = None
    flavor: str | None = None
    create_model: bool = Field(default=False, description="Create the registered model if missing.")
    require_manifest: bool = True


class VersionUpdate(_Body):
    description: str


class Search(_Body):
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    max_results: int = _search.DEFAULT_MAX_RESULTS
    page_token: str | None = None


class AliasSet(_Body):
    version: int | str
    force: bool = False
    note: str = ""
    reported: list[dict[str, Any]] = Field(
        default_factory=list, description="Results of the gate's callable checks (SDK-run)."
    )


class AliasCheck(_Body):
    version: int | str
    reported: list[dict[str, Any]] = Field(default_factory=list)


class Note(_Body):
    note: str = ""


class GateSet(_Body):
    checks: list[Any]


def _reported(items: list[dict[str, Any]]) -> list[CheckResult]:
    return [result_from_json(item, where=f"reported[{i}]") for i, item in enumerate(items)]


# --- registered models ----------------------------------------------------------------


@router.post(MODELS, status_code=201)
def create_registered_model(
    body: ModelCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    note_audit_target(request.scope, model=body.name)
    found = db.run(
        _models.create_registered_model,
        project,
        body.name,
        description=body.description,
        tags=body.tags,
    )
    return JSONResponse(_wire.model_to_json(found), status_code=201)


@router.get(MODELS)
def list_registered_models(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    found = db.read(_models.list_registered_models, project)
    return JSONResponse([_wire.model_to_json(m) for m in found])


@router.post(MODELS + "/search")
def search_registered_models(
    body: Search, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    found, token = db.read(
        _search.search_registered_models,
        project,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
    )
    return JSONResponse(
        {"items": [_wire.model_to_json(m) for m in found], "next_page_token": token}
    )


@router.get(MODEL)
def get_registered_model(
    model: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return JSONResponse(_wire.model_to_json(db.read(_models.get_registered_model, project, model)))


@router.patch(MODEL)
def update_registered_model(
    model: str,
    body: ModelUpdate,
    request: Request,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Rename (``name``) and/or describe a registered model."""
    if body.name is not None:
        note_audit_target(request.scope, new_name=body.name)
    found = db.run(
        _models.update_registered_model,
        project,
        model,
        description=body.description,
        new_name=body.name,
    )
    return JSONResponse(_wire.model_to_json(found))


@router.delete(MODEL, status_code=204)
def delete_registered_model(
    model: str, db: DbDep, caller: ProjectAdmin, project: RequestProject
) -> None:
    """Delete a model with its versions, aliases, alias history and gates (project admins)."""
    db.run(_models.delete_registered_model, project, model)


@router.put(MODEL + "/tags/{key:path}", status_code=204)
def set_registered_model_tag(
    model: str, key: str, body: TagValue, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    db.run(_models.set_registered_model_tag, project, model, key, body.value)


@router.delete(MODEL + "/tags/{key:path}", status_code=204)
def delete_registered_model_tag(
    model: str, key: str, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    db.run(_models.delete_registered_model_tag, project, model, key)


# --- versions ---------------------------------------------------------------------------


@router.post("/model-versions", status_code=201)
def create_model_version(
    body: VersionCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Register ``source`` as the next version of ``name``."""
    note_audit_target(request.scope, model=body.name)
    found = db.run(
        _versions.create_model_version,
        project,
        body.name,
        body.source,
        run_id=body.run_id,
        description=body.description,
        tags=body.tags,
        user=caller.user,
        create_model=body.create_model,
        manifest_sha256=body.manifest_sha256,
        flavor=body.flavor,
        require_manifest=body.require_manifest,
    )
    note_audit_target(request.scope, version=found.version)
    return JSONResponse(_wire.version_to_json(found), status_code=201)


@router.post("/model-versions/search")
def search_model_versions(
    body: Search, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    found, token = db.read(
        _search.search_model_versions,
        project,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
    )
    return JSONResponse(
        {"items": [_wire.version_to_json(v) for v in found], "next_page_token": token}
    )


@router.get(MODEL + "/versions")
def list_model_versions(
    model: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    found = db.read(_versions.list_model_versions, project, model)
    return JSONResponse([_wire.version_to_json(v) for v in found])


@router.get(VERSION)
def get_model_version(
    model: str, version: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """A version by number, or ``latest``."""
    if version == "latest":
        found = db.read(_versions.latest_model_version, project, model)
    else:
        found = db.read(_versions.get_model_version, project, model, version)
    return JSONResponse(_wire.version_to_json(found))


@router.patch(VERSION)
def update_model_version(
    model: str,
    version: str,
    body: VersionUpdate,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    found = db.run(
        _versions.update_model_version, project, model, version, description=body.description
    )
    return JSONResponse(_wire.version_to_json(found))


@router.delete(VERSION, status_code=204)
def delete_model_version(
    model: str, version: str, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    """Delete a version; aliases on it are removed (each recorded as an event)."""
    db.run(_versions.delete_model_version, project, model, version, actor=caller.user)


@router.put(VERSION + "/tags/{key:path}", status_code=204)
def set_model_version_tag(
    model: str,
    version: str,
    key: str,
    body: TagValue,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> None:
    db.run(_versions.set_model_version_tag, project, model, version, key, body.value)


@router.delete(VERSION + "/tags/{key:path}", status_code=204)
def delete_model_version_tag(
    model: str, version: str, key: str, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    db.run(_versions.delete_model_version_tag, project, model, version, key)


# --- aliases, their history and gates ---------------------------------------------------


@router.get(ALIAS)
def get_model_version_by_alias(
    model: str, alias: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    found = db.read(_aliases.get_version_by_alias, project, model, alias)
    return JSONResponse(_wire.version_to_json(found))


@router.put(ALIAS)
def set_alias(
    model: str,
    alias: str,
    body: AliasSet,
    request: Request,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Move an alias through its gate; ``force`` (project admins) overrides failed checks."""
    if body.force:
        require_role(caller, project, Role.ADMIN)
    note_audit_target(request.scope, version=body.version)
    event = db.run(
        _aliases.set_alias,
        project,
        model,
        alias,
        body.version,
        actor=caller.user,
        reported=_reported(body.reported),
        force=body.force,
        note=body.note,
    )
    return JSONResponse(_wire.event_to_json(event))


@router.delete(ALIAS)
def delete_alias(
    model: str, alias: str, db: DbDep, caller: Editor, project: RequestProject, note: str = ""
) -> JSONResponse:
    event = db.run(_aliases.delete_alias, project, model, alias, actor=caller.user, note=note)
    return JSONResponse(_wire.event_to_json(event))


@router.post(ALIAS + "/rollback")
def rollback_alias(
    model: str,
    alias: str,
    body: Note,
    request: Request,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Move the alias back to where it was before its last move still in effect."""
    event = db.run(
        _aliases.rollback_alias, project, model, alias, actor=caller.user, note=body.note
    )
    note_audit_target(request.scope, version=event.to_version)
    return JSONResponse(_wire.event_to_json(event))


@router.get(ALIAS + "/history")
def alias_history(
    model: str, alias: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    events = db.read(_aliases.alias_history, project, model, alias)
    return JSONResponse([_wire.event_to_json(e) for e in events])


@router.get(MODEL + "/alias-events")
def model_alias_events(
    model: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """Every alias event of a model, newest first."""
    events = db.read(_aliases.alias_history, project, model, None)
    return JSONResponse([_wire.event_to_json(e) for e in events])


@router.post(ALIAS + "/check")
def check_gate(
    model: str, alias: str, body: AliasCheck, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """What the alias's gate says about a version now (moves nothing)."""
    results = db.read(
        _gates.evaluate_gate,
        project,
        model,
        alias,
        body.version,
        reported=_reported(body.reported),
    )
    return JSONResponse({"results": [result_to_json(r) for r in results]})


@router.get(MODEL + "/gates")
def list_gates(model: str, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    return JSONResponse([_wire.gate_to_json(g) for g in db.read(_gates.list_gates, project, model)])


@router.get(MODEL + "/gates/{alias}")
def get_gate(
    model: str, alias: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return JSONResponse(_wire.gate_to_json(db.read(_gates.get_gate, project, model, alias)))


@router.put(MODEL + "/gates/{alias}")
def set_gate(
    model: str,
    alias: str,
    body: GateSet,
    db: DbDep,
    caller: ProjectAdmin,
    project: RequestProject,
) -> JSONResponse:
    """Set the checks an alias requires (project admins: a gate binds the editors)."""
    gate = db.run(_gates.set_gate, project, model, alias, body.checks, actor=caller.user)
    return JSONResponse(_wire.gate_to_json(gate))


@router.delete(MODEL + "/gates/{alias}", status_code=204)
def delete_gate(
    model: str, alias: str, db: DbDep, caller: ProjectAdmin, project: RequestProject
) -> None:
    db.run(_gates.delete_gate, project, model, alias)
