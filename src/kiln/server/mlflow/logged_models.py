"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models``) and run outputs.

MLflow 3's ``log_model`` creates a logged model, uploads its files through the
artifact proxy (``<experiment>/models/<model_id>/artifacts/…``) and finalizes
it; registering ``models:/<model_id>`` then makes a registry version of it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.mlflow._convert import resolve_experiment_id
from kiln.server.mlflow._route import KeyValue, MlflowRoute
from kiln.server.mlflow._route import MlflowBody as _Body
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse
from kiln.tracking import _runs

router = APIRouter(route_class=MlflowRoute)


class CreateLoggedModel(_Body):
    experiment_id: str = "0"
    name: str | None = None
    model_type: str = ""
    source_run_id: str | None = None
    params: list[KeyValue] = Field(default_factory=list)
    tags: list[KeyValue] = Field(default_factory=list)


class FinalizeLoggedModel(_Body):
    status: str = "LOGGED_MODEL_READY"


class LoggedModelTags(_Body):
    tags: list[KeyValue] = Field(default_factory=list)


class LoggedModelParams(_Body):
    params: list[KeyValue] = Field(default_factory=list)


class SearchLoggedModels(_Body):
    experiment_ids: list[str] = Field(default_factory=list)


class ModelOutput(_Body):
    model_id: str
    step: int = 0


class LogOutputs(_Body):
    run_id: str
    models: list[ModelOutput] = Field(default_factory=list)


def _logged_model_json(model: Any) -> dict[str, Any]:
    return {
        "info": {
            "model_id": model.id,
            "experiment_id": model.experiment_id,
            "name": model.name,
            "creation_timestamp_ms": int(model.created_at.timestamp() * 1000),
            "last_updated_timestamp_ms": int(model.updated_at.timestamp() * 1000),
            "artifact_uri": f"mlflow-artifacts:/{model.experiment_id}/models/{model.id}/artifacts",
            "status": f"LOGGED_MODEL_{model.status}",
            "model_type": model.model_type,
            **({"source_run_id": model.source_run_id} if model.source_run_id else {}),
            "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        },
        "data": {
            "params": [{"key": k, "value": v} for k, v in model.params.items()],
            "metrics": [],
        },
    }


def _create_logged_model(session: Any, project: str, body: CreateLoggedModel, user: str) -> Any:
    from kiln.tracking import _logged_models

    return _logged_models.create_logged_model(
        session,
        project,
        resolve_experiment_id(session, project, body.experiment_id),
        name=body.name,
        model_type=body.model_type,
        source_run_id=body.source_run_id,
        params={p.key: p.value for p in body.params},
        tags={t.key: t.value for t in body.tags},
        created_by=user,
    )


@router.post("/logged-models")
def create_logged_model(
    body: CreateLoggedModel, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """MLflow 3's first step of ``log_model``: the model's files follow through the proxy."""
    model = db.run(_create_logged_model, project, body, caller.user)
    return _ok({"model": _logged_model_json(model)})


@router.post("/logged-models/search")
def search_logged_models(
    body: SearchLoggedModels, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    found = db.read(_logged_models.search_logged_models, project, body.experiment_ids)
    return _ok({"models": [_logged_model_json(m) for m in found]})


@router.get("/logged-models/{model_id}")
def get_logged_model(
    model_id: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    model = db.read(_logged_models.get_logged_model, project, model_id)
    return _ok({"model": _logged_model_json(model)})


@router.patch("/logged-models/{model_id}")
def finalize_logged_model(
    model_id: str, body: FinalizeLoggedModel, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    status = body.status.removeprefix("LOGGED_MODEL_")
    model = db.run(_logged_models.finalize_logged_model, project, model_id, status)
    return _ok({"model": _logged_model_json(model)})


@router.delete("/logged-models/{model_id}")
def delete_logged_model(
    model_id: str, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    db.run(_logged_models.delete_logged_model, project, model_id)
    return _ok()


@router.patch("/logged-models/{model_id}/tags")
def set_logged_model_tags(
    model_id: str, body: LoggedModelTags, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    db.run(
        _logged_models.update_logged_model,
        project,
        model_id,
        set_tags={t.key: t.value for t in body.tags},
    )
    return _ok()


@router.delete("/logged-models/{model_id}/tags/{key:path}")
def delete_logged_model_tag(
    model_id: str, key: str, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    db.run(_logged_models.update_logged_model, project, model_id, delete_tag=key)
    return _ok()


@router.post("/logged-models/{model_id}/params")
def log_logged_model_params(
    model_id: str, body: LoggedModelParams, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _logged_models

    db.run(
        _logged_models.update_logged_model,
        project,
        model_id,
        add_params={p.key: p.value for p in body.params},
    )
    return _ok()


@router.post("/runs/outputs")
def log_outputs(
    body: LogOutputs, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Link a run to the models it produced (a tag per model on the run)."""
    tags = [(f"mlflow.loggedModel.{m.model_id}", str(m.step)) for m in body.models]
    if tags:
        db.run(_runs.log_batch, project, body.run_id, tags=tags)
    return _ok()
