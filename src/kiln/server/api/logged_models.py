"""``/api/v1/logged-models``: the files of MLflow 3 logged models, for Kiln's SDK.

MLflow clients create logged models and upload their files through the
MLflow routes (``kiln.server.mlflow``). Kiln's SDK in remote mode needs those
files back, with the digest each was stored under, to load a registry version
registered from ``models:/m-<id>`` and verify every file it downloads; the
MLflow proxy's listing has no digests, hence these two read-only routes.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import StreamingResponse

from kiln.server.deps import ContextDep, DbDep, RequestProject, Viewer
from kiln.server.responses import JSONResponse
from kiln.server.streaming import blob_response
from kiln.tracking import _logged_models, _model_files

router = APIRouter(prefix="/logged-models", tags=["logged-models"])


@router.get("/{model_id}/artifacts")
def list_model_files(
    model_id: str, db: DbDep, caller: Viewer, project: RequestProject, prefix: str = ""
) -> JSONResponse:
    """The model's status and its files under ``prefix``, each with its SHA-256 and size."""
    found = db.read(_model_files.model_files, project, model_id, prefix)
    return JSONResponse(_model_files.model_files_to_json(found))


@router.get("/{model_id}/artifact-content/{path:path}")
def download_model_file(
    model_id: str, path: str, context: ContextDep, caller: Viewer, project: RequestProject
) -> StreamingResponse:
    """The bytes of one file of the model, streamed (the ETag is its digest)."""
    artifact = context.db.read(_logged_models.get_model_artifact, project, model_id, path)
    return blob_response(context.artifacts, artifact.digest, artifact.size)
