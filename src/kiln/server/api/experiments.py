"""``/api/v1/experiments``: experiments of the request's project."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse
from kiln.tracking import _experiments, _wire
from kiln.tracking._entities import LifecycleStage

router = APIRouter(prefix="/experiments", tags=["experiments"])


class ExperimentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)


class ExperimentEnsure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


class ExperimentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str | None = None


class TagValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    value: str


class ExperimentSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    max_results: int = 1000
    page_token: str | None = None
    view: str = "active_only"


def _json(value: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(value, status_code=status_code)


@router.get("")
def list_experiments(
    db: DbDep, caller: Viewer, project: RequestProject, include_deleted: bool = False
) -> JSONResponse:
    experiments = db.read(_experiments.list_experiments, project, include_deleted=include_deleted)
    return _json([_wire.experiment_to_json(e) for e in experiments])


@router.post("", status_code=201)
def create_experiment(
    body: ExperimentCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    note_audit_target(request.scope, experiment=body.name)
    experiment = db.run(
        _experiments.create_experiment,
        project,
        body.name,
        description=body.description,
        tags=body.tags,
    )
    return _json(_wire.experiment_to_json(experiment), 201)


@router.post("/ensure")
def ensure_experiment(
    body: ExperimentEnsure, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """The experiment of this name, created if it does not exist."""
    return _json(
        _wire.experiment_to_json(db.run(_experiments.ensure_experiment, project, body.name))
    )


@router.post("/search")
def search_experiments(
    body: ExperimentSearch, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _search

    found, token = db.read(
        _search.search_experiments,
        project,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        view=body.view,
    )
    return _json(
        {"experiments": [_wire.experiment_to_json(e) for e in found], "next_page_token": token}
    )


@router.get("/by-name/{name}")
def get_experiment_by_name(
    name: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return _json(
        _wire.experiment_to_json(db.read(_experiments.get_experiment_by_name, project, name))
    )


@router.get("/{experiment_id}")
def get_experiment(
    experiment_id: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    return _json(
        _wire.experiment_to_json(db.read(_experiments.get_experiment, project, experiment_id))
    )


@router.patch("/{experiment_id}")
def update_experiment(
    experiment_id: str,
    body: ExperimentUpdate,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    experiment = db.run(
        _experiments.update_experiment,
        project,
        experiment_id,
        name=body.name,
        description=body.description,
    )
    return _json(_wire.experiment_to_json(experiment))


@router.delete("/{experiment_id}")
def delete_experiment(
    experiment_id: str, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Hide an experiment and its runs; restore it with ``POST …/restore``."""
    experiment = db.run(
        _experiments.set_experiment_lifecycle, project, experiment_id, LifecycleStage.DELETED
    )
    return _json(_wire.experiment_to_json(experiment))


@router.post("/{experiment_id}/restore")
def restore_experiment(
    experiment_id: str, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    experiment = db.run(
        _experiments.set_experiment_lifecycle, project, experiment_id, LifecycleStage.ACTIVE
    )
    return _json(_wire.experiment_to_json(experiment))


@router.put("/{experiment_id}/tags/{key:path}", status_code=204)
def set_experiment_tag(
    experiment_id: str,
    key: str,
    body: TagValue,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> None:
    db.run(_experiments.set_experiment_tag, project, experiment_id, key, body.value)


@router.delete("/{experiment_id}/tags/{key:path}", status_code=204)
def delete_experiment_tag(
    experiment_id: str, key: str, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    db.run(_experiments.delete_experiment_tag, project, experiment_id, key)
