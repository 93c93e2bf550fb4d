"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``) over Kiln's run artifacts.

MLflow clients address a run's files as ``<experiment>/<run>/artifacts/<path>``
(the run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment>/<run>/artifacts``).
Every path is validated with Kiln's artifact path rules before anything is
looked up, and bodies stream through a temporary file, never memory.
"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from kiln.artifacts import validate_artifact_path
from kiln.errors import InvalidInput, NotFound
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.mlflow._route import MlflowRoute
from kiln.server.responses import JSONResponse
from kiln.server.streaming import blob_response, receive_blob
from kiln.tracking import _artifacts, _runs

router = APIRouter(route_class=MlflowRoute)


def _split(path: str) -> tuple[str, str, str]:
    """``<exp>/<run>/artifacts[/<rest>]`` or ``<exp>/models/<model>/artifacts[/<rest>]``
    → ``(kind, owner id, rest)`` with kind ``"run"`` or ``"model"``."""
    path = validate_artifact_path(path.strip("/")) if path.strip("/") else ""
    parts = path.split("/")
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return "model", parts[2], "/".join(parts[4:])
    if len(parts) >= 3 and parts[2] == "artifacts":
        return "run", parts[1], "/".join(parts[3:])
    raise InvalidInput(
        f"artifact path {path!r} is not <experiment_id>/<run_id>/artifacts/<path> "
        "or <experiment_id>/models/<model_id>/artifacts/<path>",
        field="path",
    )


def _list(kind: str) -> Any:
    from kiln.tracking import _logged_models

    return _artifacts.list_artifacts if kind == "run" else _logged_models.list_model_artifacts


def _get(kind: str) -> Any:
    from kiln.tracking import _logged_models

    return _artifacts.get_artifact if kind == "run" else _logged_models.get_model_artifact


@router.get("/artifacts")
def list_artifacts(
    db: DbDep, caller: Viewer, project: RequestProject, path: str = ""
) -> JSONResponse:
    """Direct children of a folder, as MLflow lists them."""
    kind, owner, folder = _split(path)
    found = db.read(_list(kind), project, owner, folder)
    prefix = f"{folder}/" if folder else ""
    files: dict[str, dict[str, Any]] = {}
    for artifact in found:
        if artifact.path == folder:
            continue  # the path names a file, not a folder
        child, _, rest = artifact.path[len(prefix) :].partition("/")
        if rest:
            files.setdefault(child, {"path": child, "is_dir": True})
        else:
            files[child] = {"path": child, "is_dir": False, "file_size": artifact.size}
    return JSONResponse({"files": sorted(files.values(), key=lambda f: f["path"])})


@router.get("/artifacts/{path:path}")
def download_artifact(
    path: str, context: ContextDep, caller: Viewer, project: RequestProject
) -> StreamingResponse:
    kind, owner, file = _split(path)
    if not file:
        raise NotFound(f"{path!r} is a folder, not a file")
    artifact = context.db.read(_get(kind), project, owner, file)
    return blob_response(context.artifacts, artifact.digest, artifact.size)


@router.put("/artifacts/{path:path}")
async def upload_artifact(
    path: str, request: Request, context: ContextDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    kind, owner, file = _split(path)
    if not file:
        raise InvalidInput(f"{path!r} names no file", field="path")
    from kiln.tracking import _logged_models

    check = _runs.get_run if kind == "run" else _logged_models.get_logged_model
    await anyio.to_thread.run_sync(context.db.read, check, project, owner)
    blob = await receive_blob(request, context.artifacts)
    record = _artifacts.record_artifact if kind == "run" else _logged_models.record_model_artifact
    await anyio.to_thread.run_sync(
        context.db.run, record, project, owner, file, blob.digest, blob.size
    )
    return JSONResponse({})


@router.delete("/artifacts/{path:path}")
def delete_artifact(path: str, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    kind, owner, file = _split(path)
    if kind != "run":
        raise InvalidInput("files of a logged model cannot be deleted one by one", field="path")
    db.run(_artifacts.forget_artifacts, project, owner, file)
    return JSONResponse({})
