"""MLflow 3 logged models (``/api/2.0/mlflow/logged-models``) and run outputs.

MLflow 3's ``log_model`` creates a logged model, uploads its files through the
artifact proxy (``<experiment>/models/<model_id>/artifacts/…``) and finalizes
it; registering ``models:/<model_id>`` then makes a registry version of it.
Metrics logged with a ``model_id`` come back in the model's ``data.metrics``.
``artifacts/directories`` and ``artifacts/files`` are the listing and download
routes MLflow's UI uses for a model's files.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy.orm import Session
from starlette.responses import StreamingResponse

from kiln.artifacts import validate_artifact_path
from kiln.errors import InvalidInput, NotFound
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.mlflow._convert import MLFLOW_DEFAULT_EXPERIMENT, resolve_experiment_id
from kiln.server.mlflow._route import KeyValue, MlflowRoute
from kiln.server.mlflow._route import MlflowBody as _Body
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse
from kiln.server.streaming import blob_response
from kiln.tracking import _runs
from kiln.tracking._wire import encode_float

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


class DatasetFilter(_Body):
    dataset_name: str = ""
    dataset_digest: str | None = None


class OrderBy(_Body):
    field_name: str
    ascending: bool = True
    dataset_name: str | None = None
    dataset_digest: str | None = None


class SearchLoggedModels(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str = ""
    datasets: list[DatasetFilter] = Field(default_factory=list)
    max_results: int | None = None
    order_by: list[OrderBy] = Field(default_factory=list)
    page_token: str | None = None


class ModelOutput(_Body):
    model_id: str
    step: int = 0


class LogOutputs(_Body):
    run_id: str
    models: list[ModelOutput] = Field(default_factory=list)


def _artifact_location(model: Any) -> str:
    return f"mlflow-artifacts:/{model.experiment_id}/models/{model.id}/artifacts"


def _metric_json(model_id: str, metric: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": metric.key,
        "value": encode_float(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
        "model_id": model_id,
    }
    if metric.run_id:
        out["run_id"] = metric.run_id
    if metric.dataset_name:
        out["dataset_name"] = metric.dataset_name
    if metric.dataset_digest:
        out["dataset_digest"] = metric.dataset_digest
    return out


def _logged_model_json(model: Any) -> dict[str, Any]:
    return {
        "info": {
            "model_id": model.id,
            "experiment_id": model.experiment_id,
            "name": model.name,
            "creation_timestamp_ms": int(model.created_at.timestamp() * 1000),
            "last_updated_timestamp_ms": int(model.updated_at.timestamp() * 1000),
            "artifact_uri": _artifact_location(model),
            "status": f"LOGGED_MODEL_{model.status}",
            "model_type": model.model_type,
            **({"source_run_id": model.source_run_id} if model.source_run_id else {}),
            "tags": [{"key": k, "value": v} for k, v in model.tags.items()],
        },
        "data": {
            "params": [{"key": k, "value": v} for k, v in model.params.items()],
            "metrics": [_metric_json(model.id, m) for m in model.metrics],
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
    """MLflow's search: its client looks models up by name here (``runs:/<run>/<name>``)."""
    found, token = db.read(_search_logged_models, project, body)
    result: dict[str, Any] = {"models": [_logged_model_json(m) for m in found]}
    if token:
        result["next_page_token"] = token
    return _ok(result)


def _search_logged_models(
    session: Session, project: str, body: SearchLoggedModels
) -> tuple[list[Any], str | None]:
    from kiln.tracking import _experiments, _logged_model_search

    experiment_ids = []
    for experiment_id in body.experiment_ids:
        if experiment_id != MLFLOW_DEFAULT_EXPERIMENT:
            experiment_ids.append(experiment_id)
            continue
        # MLflow's default experiment is Kiln's "default"; a search does not create it.
        try:
            default = _experiments.DEFAULT_EXPERIMENT
            found = _experiments.get_experiment_by_name(session, project, default)
        except NotFound:
            continue
        experiment_ids.append(found.id)
    if body.experiment_ids and not experiment_ids:
        return [], None
    return _logged_model_search.search_logged_models_page(
        session,
        project,
        experiment_ids,
        filter_string=body.filter,
        datasets=[d.model_dump() for d in body.datasets],
        order_by=[o.model_dump() for o in body.order_by],
        max_results=body.max_results,
        page_token=body.page_token or None,
    )


@router.get("/logged-models/{model_id}")
def get_logged_model(
    model_id: str,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    allow_deleted: str = "false",
) -> JSONResponse:
    from kiln.tracking import _logged_models

    model = db.read(
        _logged_models.get_logged_model,
        project,
        model_id,
        allow_deleted=allow_deleted.lower() == "true",
    )
    return _ok({"model": _logged_model_json(model)})


@router.get("/logged-models/{model_id}/artifacts/directories")
def list_logged_model_artifacts(
    model_id: str,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    artifact_directory_path: str = "",
) -> JSONResponse:
    """Direct children of a folder of the model's files, paths relative to the model's root."""
    from kiln.tracking import _logged_models

    folder = artifact_directory_path.strip("/")
    folder = validate_artifact_path(folder) if folder else ""
    model = db.read(_logged_models.get_logged_model, project, model_id)
    found = db.read(_logged_models.list_model_artifacts, project, model_id, folder)
    prefix = f"{folder}/" if folder else ""
    files: dict[str, dict[str, Any]] = {}
    for artifact in found:
        if artifact.path == folder:
            continue  # the path names a file, not a folder
        child, _, rest = artifact.path[len(prefix) :].partition("/")
        if rest:
            files.setdefault(child, {"path": f"{prefix}{child}", "is_dir": True})
        else:
            files[child] = {"path": f"{prefix}{child}", "is_dir": False, "file_size": artifact.size}
    return _ok(
        {
            "root_uri": _artifact_location(model),
            "files": sorted(files.values(), key=lambda f: f["path"]),
        }
    )


@router.get("/logged-models/{model_id}/artifacts/files")
def get_logged_model_artifact(
    model_id: str,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    artifact_file_path: str = "",
) -> StreamingResponse:
    """One file of the model, streamed from the blob store (never read into memory)."""
    from kiln.tracking import _logged_models

    if not artifact_file_path.strip("/"):
        raise InvalidInput(
            'request must include the "artifact_file_path" query parameter',
            field="artifact_file_path",
        )
    artifact = context.db.read(
        _logged_models.get_model_artifact, project, model_id, artifact_file_path.strip("/")
    )
    response = blob_response(context.artifacts, artifact.digest, artifact.size)
    name = artifact.path.rsplit("/", 1)[-1]
    response.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(name)}"
    return response


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
