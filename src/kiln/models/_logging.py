"""Models as run artifacts: ``log_model`` and loading ``runs:/<run_id>/<path>``."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput
from kiln.models._manifest import Manifest
from kiln.models._save import ModelInfo, save_model

RUNS_SCHEME = "runs:/"


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model saved into a run: where it is and what its manifest says."""

    run_id: str
    artifact_path: str
    manifest: Manifest
    manifest_sha256: str

    @property
    def uri(self) -> str:
        """``runs:/<run_id>/<artifact_path>``, accepted by ``kiln.load_model``."""
        return f"{RUNS_SCHEME}{self.run_id}/{self.artifact_path}"


def log_model(
    model: Any,
    artifact_path: str = "model",
    *,
    run_id: str | None = None,
    **save_options: Any,
) -> LoggedModel:
    """Save ``model`` in Kiln's format (see ``save_model``) into the active run.

    Takes the same options as ``save_model`` (``input_example``, ``signature``,
    ``flavor``, ``allow_pickle``, …); the files go to the artifact store,
    content-addressed, under ``artifact_path``.
    """
    from kiln import tracking

    with tempfile.TemporaryDirectory(prefix="kiln-model-") as folder:
        info: ModelInfo = save_model(model, Path(folder) / "model", **save_options)
        logged = tracking.log_artifacts(info.path, artifact_path, run_id=run_id)
    rid = run_id or _active_run_id()
    tracking.set_tag(f"kiln.model.{artifact_path}", info.manifest.flavor, run_id=rid)
    del logged
    return LoggedModel(rid, artifact_path.strip("/"), info.manifest, info.manifest_sha256)


def _active_run_id() -> str:
    from kiln import tracking

    run = tracking.active_run()
    if run is None:  # log_artifacts raised already; this is for type checkers
        raise InvalidInput("no active run")
    return run.id


def parse_runs_uri(uri: str) -> tuple[str, str]:
    """``runs:/<run_id>/<path>`` → ``(run_id, path)``."""
    if not uri.startswith(RUNS_SCHEME):
        raise InvalidInput(f"{uri!r} is not a runs:/<run_id>/<path> URI", field="uri")
    run_id, _, path = uri[len(RUNS_SCHEME) :].lstrip("/").partition("/")
    if not run_id or not path:
        raise InvalidInput(f"{uri!r} needs a run id and a path: runs:/<run_id>/<path>", field="uri")
    return run_id, path.strip("/")


def download_run_model(run_id: str, artifact_path: str, dst: str | os.PathLike[str]) -> Path:
    """Copy the model folder a run logged at ``artifact_path`` into ``dst``."""
    from kiln import tracking

    return tracking.download_artifacts(run_id, artifact_path, dst)
