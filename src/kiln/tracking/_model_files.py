"""The files of an MLflow 3 logged model, for the SDK: listed with digests, then downloaded.

MLflow clients upload a logged model's files through the artifact proxy
(``<experiment>/models/<model_id>/artifacts/…``). ``kiln.registry.load_model``
needs them back to load a version registered from ``models:/m-<id>``, and
needs the digest each file was stored under to verify what it downloaded.
Embedded, these functions read the metadata and artifact stores directly;
with ``KILN_SERVER_URL`` set they call ``/api/v1/logged-models/<id>/…``
(``kiln.server.api.logged_models``), whose listing carries the digests (the
MLflow proxy's listing does not).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from kiln.artifacts import safe_join
from kiln.context import Context, get_context
from kiln.tracking import _logged_models, _wire
from kiln.tracking._entities import RunArtifact

__all__ = [
    "ModelFiles",
    "download_logged_model_file",
    "list_logged_model_files",
    "model_files",
    "model_files_from_json",
    "model_files_to_json",
]


@dataclass(frozen=True, slots=True)
class ModelFiles:
    """A logged model's status and its files under a prefix (paths from its artifact root)."""

    model_id: str
    status: str
    files: tuple[RunArtifact, ...]


def model_files(session: Session, project: str, model_id: str, prefix: str = "") -> ModelFiles:
    """Service: the status and files of logged model ``model_id`` (``NotFound`` if none)."""
    status = _logged_models.get_logged_model(session, project, model_id).status
    found = _logged_models.list_model_artifacts(session, project, model_id, prefix)
    return ModelFiles(model_id, status, tuple(found))


def model_files_to_json(files: ModelFiles) -> dict[str, Any]:
    return {
        "model_id": files.model_id,
        "status": files.status,
        "files": [_wire.artifact_to_json(artifact) for artifact in files.files],
    }


def model_files_from_json(data: dict[str, Any]) -> ModelFiles:
    return ModelFiles(
        model_id=str(data["model_id"]),
        status=str(data["status"]),
        files=tuple(_wire.artifact_from_json(item) for item in data["files"]),
    )


def list_logged_model_files(
    model_id: str, prefix: str = "", *, context: Context | None = None
) -> ModelFiles:
    """The status and files (with digests) of a logged model, embedded or from the server."""
    context = context or get_context()
    client = context.client
    if client is None:
        return context.db.read(model_files, context.settings.project, model_id, prefix)
    data = client.request(
        "GET", f"/logged-models/{quote(model_id)}/artifacts", params={"prefix": prefix or None}
    )
    return model_files_from_json(data)


def download_logged_model_file(
    model_id: str, artifact: RunArtifact, root: Path, *, context: Context | None = None
) -> Path:
    """Copy one listed file of a logged model to ``root/<artifact.path>``.

    Embedded, the artifact store checks the copy against ``artifact.digest``
    on the way; the caller verifies a remote download against it.
    """
    context = context or get_context()
    client = context.client
    if client is None:
        return context.artifacts.export(artifact.digest, root, artifact.path)
    target = safe_join(root, artifact.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return client.download(
        f"/logged-models/{quote(model_id)}/artifact-content/{quote(artifact.path)}", target
    )
