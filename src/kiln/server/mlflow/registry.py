"""MLflow's model registry REST API (``registered-models/…``, ``model-versions/…``) over Kiln's.

Every route calls Kiln's registry services, so a model registered through the
``mlflow`` client is a Kiln registered model (visible at ``/api/v1/registered-models``)
and an alias moved through MLflow passes the alias's gate like any other move:
a refused gate is ``INVALID_PARAMETER_VALUE`` with the failed checks in the message.

Versions registered through MLflow are recorded with ``require_manifest=False``:
an MLflow model (``runs:/<run>/model`` holding an ``MLmodel``, or the
``mlflow-artifacts:/…`` location ``mlflow.register_model`` sends) is accepted
without a ``kiln-model.yaml``; when the run's folder does hold a Kiln manifest
its digest is recorded as usual.

Stages (deprecated in MLflow) are aliases in Kiln:

- ``transition-stage`` to ``Production`` / ``Staging`` points alias
  ``production`` / ``staging`` at the version (through the alias's gate) and
  removes the other stage alias from that version, so a version has one stage.
  The alias leaves its previous holder, so the previous version drops back to
  stage ``None`` whatever ``archive_existing_versions`` says: Kiln has one
  holder per alias and no ``Archived`` state.
- ``transition-stage`` to ``Archived`` or ``None`` removes the ``production``
  and ``staging`` aliases from the version.
- ``current_stage`` is ``Production`` when the version holds alias
  ``production``, else ``Staging`` when it holds ``staging``, else ``None``
  (never ``Archived``).
- ``get-latest-versions`` answers per stage: the holder of ``production``, the
  holder of ``staging``, and the highest-numbered version holding neither.

Reads need the viewer role, writes the editor role, deleting a registered
model the project admin role (as in Kiln's own API).
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from kiln.registry import _aliases, _models, _search
from kiln.server.deps import DbDep, Editor, ProjectAdmin, RequestProject, Viewer
from kiln.server.mlflow._registry_common import (
    PROMPT_TAG,
    AliasRef,
    CreateModel,
    LatestVersions,
    ModelRef,
    ModelTag,
    RenameModel,
    SetAlias,
    UpdateModel,
    latest_versions,
    model_json,
    model_out,
    search_params,
    target,
    version_json,
    without_prompt_filter,
)
from kiln.server.mlflow._route import MlflowRoute, first
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse

router = APIRouter(route_class=MlflowRoute)


def _create_model(session: Session, project: str, body: CreateModel) -> dict[str, Any]:
    model = _models.create_registered_model(
        session,
        project,
        body.name,
        description=body.description or "",
        tags={t.key: t.value for t in body.tags},
    )
    return {"registered_model": model_json(session, project, model)}


@router.post("/registered-models/create")
def create_registered_model(
    body: CreateModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name)
    return _ok(db.run(_create_model, project, body))


@router.get("/registered-models/get")
def get_registered_model(
    db: DbDep, caller: Viewer, project: RequestProject, name: str | None = None
) -> JSONResponse:
    return _ok(db.read(model_out, project, first(name, "name")))


def _rename(session: Session, project: str, name: str, new_name: str) -> dict[str, Any]:
    model = _models.rename_registered_model(session, project, name, new_name)
    return {"registered_model": model_json(session, project, model)}


@router.post("/registered-models/rename")
def rename_registered_model(
    body: RenameModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, new_name=body.new_name)
    return _ok(db.run(_rename, project, body.name, body.new_name))


def _update_model(
    session: Session, project: str, name: str, description: str | None
) -> dict[str, Any]:
    model = _models.update_registered_model(session, project, name, description=description)
    return {"registered_model": model_json(session, project, model)}


@router.patch("/registered-models/update")
def update_registered_model(
    body: UpdateModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name)
    return _ok(db.run(_update_model, project, body.name, body.description))


@router.delete("/registered-models/delete")
def delete_registered_model(
    body: ModelRef, request: Request, db: DbDep, caller: ProjectAdmin, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name)
    db.run(_models.delete_registered_model, project, body.name)
    return _ok()


def _search_models(
    session: Session,
    project: str,
    filter_string: str,
    order_by: list[str],
    max_results: int,
    page_token: str | None,
) -> dict[str, Any]:
    filter_string, no_prompts = without_prompt_filter(filter_string)
    models, token = _search.search_registered_models(
        session,
        project,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    if no_prompts:
        models = [m for m in models if m.tags.get(PROMPT_TAG, "").lower() != "true"]
    result: dict[str, Any] = {
        "registered_models": [model_json(session, project, m) for m in models]
    }
    if token:
        result["next_page_token"] = token
    return result


@router.get("/registered-models/search")
def search_registered_models(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return _ok(db.read(_search_models, project, *search_params(request, 100)))


def _latest(session: Session, project: str, name: str, stages: list[str]) -> dict[str, Any]:
    model = _models.get_registered_model(session, project, name)
    return {
        "model_versions": [
            version_json(v) for v in latest_versions(session, project, model, stages)
        ]
    }


@router.api_route("/registered-models/get-latest-versions", methods=["GET", "POST"])
async def get_latest_versions(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    if request.method == "POST":
        body = LatestVersions.model_validate(await request.json())
    else:
        body = LatestVersions(
            name=request.query_params.get("name", ""),
            stages=request.query_params.getlist("stages"),
        )
    result = await anyio.to_thread.run_sync(db.read, _latest, project, body.name, body.stages)
    return _ok(result)


@router.post("/registered-models/set-tag")
def set_registered_model_tag(
    body: ModelTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name)
    db.run(_models.set_registered_model_tag, project, body.name, body.key, body.value)
    return _ok()


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(
    body: ModelTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name)
    db.run(_models.delete_registered_model_tag, project, body.name, body.key)
    return _ok()


@router.post("/registered-models/alias")
def set_registered_model_alias(
    body: SetAlias, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Move an alias through its gate (failed checks: ``INVALID_PARAMETER_VALUE``)."""
    target(request, model=body.name, alias=body.alias, version=body.version)
    db.run(
        _aliases.set_alias,
        project,
        body.name,
        body.alias,
        body.version,
        actor=caller.user,
        note="set through the MLflow API",
    )
    return _ok()


@router.delete("/registered-models/alias")
def delete_registered_model_alias(
    body: AliasRef, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, alias=body.alias)
    db.run(_aliases.delete_alias, project, body.name, body.alias, actor=caller.user)
    return _ok()


@router.get("/registered-models/alias")
def get_model_version_by_alias(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    name: str | None = None,
    alias: str | None = None,
) -> JSONResponse:
    found = db.read(
        _aliases.get_version_by_alias, project, first(name, "name"), first(alias, "alias")
    )
    return _ok({"model_version": version_json(found)})


# -- model versions --------------------------------------------------------------------------
