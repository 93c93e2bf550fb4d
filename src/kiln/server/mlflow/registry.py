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

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables import ModelVersionRow
from kiln.errors import InvalidInput, NotFound
from kiln.models import parse_runs_uri
from kiln.registry import _aliases, _models, _search, _versions
from kiln.registry._entities import ModelVersion, RegisteredModel
from kiln.registry._rows import load_versions, model_row
from kiln.server.deps import DbDep, Editor, ProjectAdmin, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.mlflow._convert import artifact_uri
from kiln.server.mlflow._route import MlflowRoute, first
from kiln.server.responses import JSONResponse
from kiln.tracking import _runs

router = APIRouter(route_class=MlflowRoute)

#: MLflow stage → the Kiln alias that stands for it (``None``/``Archived``: no alias).
STAGE_ALIASES = {"Production": "production", "Staging": "staging"}
#: MLflow's stages, in the order ``get-latest-versions`` reports them.
STAGES = ("None", "Staging", "Production", "Archived")
_STAGE_NAMES = {stage.lower(): stage for stage in STAGES}
#: MLflow marks prompts (kept in its model registry) with this tag.
PROMPT_TAG = "mlflow.prompt.is_prompt"


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class KeyValue(_Body):
    key: str
    value: str = ""


class ModelRef(_Body):
    name: str = ""


class CreateModel(ModelRef):
    description: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class RenameModel(ModelRef):
    new_name: str = ""


class UpdateModel(ModelRef):
    description: str | None = None


class ModelTag(ModelRef):
    key: str = ""
    value: str = ""


class AliasRef(ModelRef):
    alias: str = ""


class SetAlias(AliasRef):
    version: str = ""


class LatestVersions(ModelRef):
    stages: list[str] = Field(default_factory=list)


class VersionRef(ModelRef):
    version: str = ""


class CreateVersion(ModelRef):
    source: str = ""
    run_id: str | None = None
    description: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class UpdateVersion(VersionRef):
    description: str | None = None


class VersionTag(VersionRef):
    key: str = ""
    value: str = ""


class TransitionStage(VersionRef):
    stage: str = ""
    archive_existing_versions: bool = False


# -- JSON shapes -----------------------------------------------------------------------------
def _ms(value: datetime) -> int:
    if value.tzinfo is None:  # SQLite hands back naive UTC
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def current_stage(aliases: Sequence[str]) -> str:
    """The MLflow stage a version's aliases stand for."""
    for stage, alias in STAGE_ALIASES.items():
        if alias in aliases:
            return stage
    return "None"


def version_json(version: ModelVersion) -> dict[str, Any]:
    return {
        "name": version.name,
        "version": str(version.version),
        "creation_timestamp": _ms(version.created_at),
        "last_updated_timestamp": _ms(version.updated_at),
        "user_id": version.created_by,
        "current_stage": current_stage(version.aliases),
        "description": version.description,
        "source": version.source,
        "run_id": version.run_id or "",
        "status": version.status.value,
        "tags": [{"key": k, "value": v} for k, v in sorted(version.tags.items())],
        "aliases": sorted(version.aliases),
    }


def _stage_name(stage: str) -> str:
    found = _STAGE_NAMES.get(stage.strip().lower())
    if found is None:
        raise InvalidInput(
            f"invalid model version stage {stage!r}; expected one of {', '.join(STAGES)}",
            field="stage",
        )
    return found


def _latest_versions(
    session: Session, project: str, model: RegisteredModel, stages: Sequence[str] = ()
) -> list[ModelVersion]:
    """The newest version of each stage (all stages when ``stages`` is empty)."""
    wanted = {_stage_name(stage) for stage in stages} or set(STAGES)
    found: list[ModelVersion] = []
    for stage in STAGES:
        if stage not in wanted:
            continue
        if stage in STAGE_ALIASES:
            number = model.aliases.get(STAGE_ALIASES[stage])
            if number is not None:
                version = _versions.get_model_version(session, project, model.name, number)
                if current_stage(version.aliases) == stage:
                    found.append(version)
        elif stage == "None" and model.latest_version is not None:
            staged = [n for alias, n in model.aliases.items() if alias in STAGE_ALIASES.values()]
            row = session.scalar(
                select(ModelVersionRow)
                .where(
                    ModelVersionRow.model_id == model_row(session, project, model.name).id,
                    ModelVersionRow.version.notin_(staged),
                )
                .order_by(ModelVersionRow.version.desc())
                .limit(1)
            )
            if row is not None:
                found.extend(load_versions(session, [row]))
    return found


def _model_json(session: Session, project: str, model: RegisteredModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.updated_at),
        "description": model.description,
        "latest_versions": [version_json(v) for v in _latest_versions(session, project, model)],
        "tags": [{"key": k, "value": v} for k, v in sorted(model.tags.items())],
        "aliases": [
            {"alias": alias, "version": str(number)}
            for alias, number in sorted(model.aliases.items())
        ],
    }


def _model_out(session: Session, project: str, name: str) -> dict[str, Any]:
    return {
        "registered_model": _model_json(
            session, project, _models.get_registered_model(session, project, name)
        )
    }


def _ok(body: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse(body or {})


def _target(request: Request, **fields: object) -> None:
    note_audit_target(request.scope, **fields)


#: The clause MLflow clients append to every registered-model search to leave prompts out.
PROMPT_FILTER = f"tag.`{PROMPT_TAG}` != 'true'"


def _without_prompt_filter(filter_string: str) -> tuple[str, bool]:
    """``filter_string`` without the prompt clause MLflow appends, and whether it was there.

    In Kiln's filter language a ``!=`` on a tag matches only models having the
    tag, so the clause would hide every model; prompts are left out afterwards.
    """
    text = filter_string.strip()
    if text == PROMPT_FILTER:
        return "", True
    suffix = f" AND {PROMPT_FILTER}"
    if text.endswith(suffix):
        return text[: -len(suffix)], True
    return filter_string, False


def _search_params(request: Request, default_max: int) -> tuple[str, list[str], int, str | None]:
    query = request.query_params
    text = query.get("max_results") or str(default_max)
    try:
        max_results = int(text)
    except ValueError:
        raise InvalidInput(
            f"max_results must be a whole number, got {text!r}", field="max_results"
        ) from None
    return (
        query.get("filter", ""),
        query.getlist("order_by"),
        max_results,
        query.get("page_token") or None,
    )


# -- registered models -----------------------------------------------------------------------
def _create_model(session: Session, project: str, body: CreateModel) -> dict[str, Any]:
    model = _models.create_registered_model(
        session,
        project,
        body.name,
        description=body.description or "",
        tags={t.key: t.value for t in body.tags},
    )
    return {"registered_model": _model_json(session, project, model)}


@router.post("/registered-models/create")
def create_registered_model(
    body: CreateModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name)
    return _ok(db.run(_create_model, project, body))


@router.get("/registered-models/get")
def get_registered_model(
    db: DbDep, caller: Viewer, project: RequestProject, name: str | None = None
) -> JSONResponse:
    return _ok(db.read(_model_out, project, first(name, "name")))


def _rename(session: Session, project: str, name: str, new_name: str) -> dict[str, Any]:
    model = _models.rename_registered_model(session, project, name, new_name)
    return {"registered_model": _model_json(session, project, model)}


@router.post("/registered-models/rename")
def rename_registered_model(
    body: RenameModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name, new_name=body.new_name)
    return _ok(db.run(_rename, project, body.name, body.new_name))


def _update_model(
    session: Session, project: str, name: str, description: str | None
) -> dict[str, Any]:
    model = _models.update_registered_model(session, project, name, description=description)
    return {"registered_model": _model_json(session, project, model)}


@router.patch("/registered-models/update")
def update_registered_model(
    body: UpdateModel, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name)
    return _ok(db.run(_update_model, project, body.name, body.description))


@router.delete("/registered-models/delete")
def delete_registered_model(
    body: ModelRef, request: Request, db: DbDep, caller: ProjectAdmin, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name)
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
    filter_string, no_prompts = _without_prompt_filter(filter_string)
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
        "registered_models": [_model_json(session, project, m) for m in models]
    }
    if token:
        result["next_page_token"] = token
    return result


@router.get("/registered-models/search")
def search_registered_models(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return _ok(db.read(_search_models, project, *_search_params(request, 100)))


def _latest(session: Session, project: str, name: str, stages: list[str]) -> dict[str, Any]:
    model = _models.get_registered_model(session, project, name)
    return {
        "model_versions": [
            version_json(v) for v in _latest_versions(session, project, model, stages)
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
    _target(request, model=body.name)
    db.run(_models.set_registered_model_tag, project, body.name, body.key, body.value)
    return _ok()


@router.delete("/registered-models/delete-tag")
def delete_registered_model_tag(
    body: ModelTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name)
    db.run(_models.delete_registered_model_tag, project, body.name, body.key)
    return _ok()


@router.post("/registered-models/alias")
def set_registered_model_alias(
    body: SetAlias, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Move an alias through its gate (failed checks: ``INVALID_PARAMETER_VALUE``)."""
    _target(request, model=body.name, alias=body.alias, version=body.version)
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
    _target(request, model=body.name, alias=body.alias)
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
@router.post("/model-versions/create")
def create_model_version(
    body: CreateVersion, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Register ``source`` (an MLflow model need not hold a Kiln manifest)."""
    _target(request, model=body.name)
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
    _target(request, model=body.name, version=body.version)
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
    _target(request, model=body.name, version=body.version)
    db.run(_versions.delete_model_version, project, body.name, body.version, actor=caller.user)
    return _ok()


@router.get("/model-versions/search")
def search_model_versions(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    filter_string, order_by, max_results, page_token = _search_params(request, 10_000)
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
    _target(request, model=body.name, version=body.version)
    db.run(_versions.set_model_version_tag, project, body.name, body.version, body.key, body.value)
    return _ok()


@router.delete("/model-versions/delete-tag")
def delete_model_version_tag(
    body: VersionTag, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    _target(request, model=body.name, version=body.version)
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
    stage = _stage_name(stage)
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
    _target(request, model=body.name, version=body.version, stage=body.stage)
    found = db.run(_transition, project, body.name, body.version, body.stage, caller.user)
    return _ok({"model_version": version_json(found)})
