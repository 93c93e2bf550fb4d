"""MLflow's model-version routes (``/api/2.0/mlflow/model-versions/…``) over Kiln's registry."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from kiln.errors import NotFound
from kiln.models import parse_runs_uri
from kiln.registry import _aliases, _search, _versions
from kiln.registry._entities import ModelVersion
from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.mlflow._convert import artifact_uri
from kiln.server.mlflow._registry_common import (
    STAGE_ALIASES,
    CreateVersion,
    TransitionStage,
    UpdateVersion,
    VersionRef,
    VersionTag,
    search_params,
    stage_name,
    target,
    version_json,
)
from kiln.server.mlflow._route import MlflowRoute, first
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse
from kiln.tracking import _runs

router = APIRouter(route_class=MlflowRoute)


@router.post("/model-versions/create")
def create_model_version(
    body: CreateVersion, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Register ``source`` (an MLflow model need not hold a Kiln manifest)."""
    target(request, model=body.name)
    version = db.run(
        _versions.create_model_version,
        project,
        body.name,
        body.source,
        run_id=body.run_id or None,
        description=body.description or "",
        tags={t.key: t.value for t in body.tags},
        user=caller.user,
        require_manifest=False,
    )
    return _ok({"model_version": version_json(version)})


@router.get("/model-versions/get")
def get_model_version(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    name: str | None = None,
    version: str | None = None,
) -> JSONResponse:
    found = db.read(
        _versions.get_model_version, project, first(name, "name"), first(version, "version")
    )
    return _ok({"model_version": version_json(found)})


@router.patch("/model-versions/update")
def update_model_version(
    body: UpdateVersion, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, version=body.version)
    if body.description is None:
        found = db.read(_versions.get_model_version, project, body.name, body.version)
    else:
        found = db.run(
            _versions.update_model_version,
            project,
            body.name,
            body.version,
            description=body.description,
        )
    return _ok({"model_version": version_json(found)})


@router.delete("/model-versions/delete")
def delete_model_version(
    body: VersionRef, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, version=body.version)
    db.run(_versions.delete_model_version, project, body.name, body.version, actor=caller.user)
    return _ok()


@router.get("/model-versions/search")
def search_model_versions(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    filter_string, order_by, max_results, page_token = search_params(request, 10_000)
    found, token = db.read(
        _search.search_model_versions,
        project,
        filter_string=filter_string,
        order_by=order_by,
        max_results=max_results,
        page_token=page_token,
    )
    result: dict[str, Any] = {"model_versions": [version_json(v) for v in found]}
    if token:
        result["next_page_token"] = token
    return _ok(result)


@router.post("/model-versions/set-tag")
def set_model_version_tag(
    body: VersionTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, version=body.version)
    db.run(_versions.set_model_version_tag, project, body.name, body.version, body.key, body.value)
    return _ok()


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(
    body: VersionTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    target(request, model=body.name, version=body.version)
    db.run(_versions.delete_model_version_tag, project, body.name, body.version, body.key)
    return _ok()


def _download_uri(session: Session, project: str, name: str, version: str) -> str:
    """Where an MLflow client downloads the version's files from."""
    found = _versions.get_model_version(session, project, name, version)
    if not found.source.startswith("runs:/"):
        return found.source
    run_id, path = parse_runs_uri(found.source)
    try:
        run = _runs.get_run(session, project, run_id)
    except NotFound:
        raise NotFound(
            f"version {found.version} of {name!r} comes from run {run_id}, which no longer exists"
        ) from None
    return f"{artifact_uri(run)}/{path}"


@router.get("/model-versions/get-download-uri")
def get_model_version_download_uri(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    name: str | None = None,
    version: str | None = None,
) -> JSONResponse:
    uri = db.read(_download_uri, project, first(name, "name"), first(version, "version"))
    return _ok({"artifact_uri": uri})


def _transition(
    session: Session, project: str, name: str, version: str, stage: str, actor: str
) -> ModelVersion:
    stage = stage_name(stage)
    current = _versions.get_model_version(session, project, name, version)
    note = f"MLflow stage transition to {stage}"
    target = STAGE_ALIASES.get(stage)
    if target is not None:
        _aliases.set_alias(session, project, name, target, current.version, actor=actor, note=note)
    for alias in STAGE_ALIASES.values():
        if alias != target and alias in current.aliases:
            _aliases.delete_alias(session, project, name, alias, actor=actor, note=note)
    return _versions.get_model_version(session, project, name, current.version)


@router.post("/model-versions/transition-stage")
def transition_model_version_stage(
    body: TransitionStage, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Deprecated in MLflow: stages are the aliases ``production``/``staging`` (module doc)."""
    target(request, model=body.name, version=body.version, stage=body.stage)
    found = db.run(_transition, project, body.name, body.version, body.stage, caller.user)
    return _ok({"model_version": version_json(found)})
