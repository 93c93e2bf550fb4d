"""``load_model(uri)``: a local, verified folder for a model URI, then ``kiln.models.load_model``.

Models from runs (``runs:/…``, and versions registered from runs) are
downloaded once into ``$KILN_HOME/cache/models/<manifest sha256>/``: the
manifest's digest names the folder, so a version, its aliases and its run all
share one copy, and a new version with the same files costs no download. The
folder is filled under a temporary name and renamed into place, so a reader
never sees half a model. Every load checks the manifest's SHA-256 against the
registered one and ``kiln.models.load_model`` checks every other file against
the manifest: a changed cached file is refused with ``Conflict``, never loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kiln.errors import Conflict, NotFound
from kiln.models import MANIFEST_NAME
from kiln.registry._entities import MODELS_SCHEME, ModelVersion

RUNS_SCHEME = "runs:/"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _check_manifest(folder: Path, expected: str, what: str) -> None:
    manifest = folder / MANIFEST_NAME
    try:
        found = _sha256(manifest)
    except OSError:
        raise Conflict(
            f"{what}: {str(manifest)!r} is missing or unreadable", field=MANIFEST_NAME
        ) from None
    if found != expected:
        raise Conflict(
            f"{what}: {str(manifest)!r} has SHA-256 {found}, but {expected} was registered",
            field=MANIFEST_NAME,
        )


def cache_root() -> Path:
    from kiln.context import get_context

    return get_context().settings.home / "cache" / "models"


def _from_run(run_id: str, path: str, digest: str, what: str) -> Path:
    """The cached folder of the model a run logged at ``path`` (downloaded on first use)."""
    root = cache_root()
    final = root / digest
    if final.is_dir():
        _check_manifest(
            final,
            digest,
            f"the cached copy of {what} was changed (delete {str(final)!r} to download it again)",
        )
        return final
    from kiln.models import download_run_model

    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as staging:
        local = download_run_model(run_id, path, staging)
        _check_manifest(
            local, digest, f"the files of {what} in run {run_id} changed after registration"
        )
        try:
            local.rename(final)
        except OSError:
            if not final.is_dir():  # not another process finishing the same download first
                raise
    return final


def run_manifest_digest(run_id: str, path: str) -> str:
    """SHA-256 of the ``kiln-model.yaml`` a run logged at ``path`` (``NotFound`` if none)."""
    from kiln import tracking

    wanted = f"{path}/{MANIFEST_NAME}"
    for artifact in tracking.list_artifacts(run_id, wanted):
        if artifact.path == wanted:
            return artifact.digest
    raise NotFound(
        f"run {run_id} has no Kiln model at {path!r} (no {wanted}); "
        f"log one with kiln.models.log_model(model, {path!r})"
    )


def version_folder(version: ModelVersion) -> Path:
    """A local folder holding ``version``'s files, its manifest checked against the registry."""
    what = f"version {version.version} of model {version.name!r}"
    if not version.manifest_sha256:
        raise Conflict(
            f"{what} was registered from {version.source!r} without a Kiln manifest; "
            "load it with the library that saved it"
        )
    if version.source.startswith(RUNS_SCHEME):
        from kiln.models import parse_runs_uri

        run_id, path = parse_runs_uri(version.source)
        return _from_run(run_id, path, version.manifest_sha256, what)
    folder = Path(version.source)
    if not folder.is_dir():
        raise NotFound(
            f"{what} was registered from the folder {version.source!r}, which is not here; "
            "versions registered from runs load anywhere"
        )
    _check_manifest(folder, version.manifest_sha256, f"the folder of {what} changed")
    return folder


def model_folder(uri: str | os.PathLike[str]) -> Path:
    """A local folder for ``runs:/``, ``models:/`` or a folder path."""
    if isinstance(uri, os.PathLike) or not uri.startswith((RUNS_SCHEME, MODELS_SCHEME)):
        return Path(uri)
    if uri.startswith(RUNS_SCHEME):
        from kiln.models import parse_runs_uri

        run_id, path = parse_runs_uri(uri)
        return _from_run(run_id, path, run_manifest_digest(run_id, path), f"the model {uri}")
    from kiln.registry._fluent import resolve_version

    return version_folder(resolve_version(uri))


def load_model(
    uri: str | os.PathLike[str],
    *,
    native: bool = False,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Any:
    """The model at ``uri`` as a :class:`~kiln.models.Predictor` (or the native object).

    ``uri`` is ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``,
    ``models:/<name>/latest``, ``models:/<name>@<alias>`` or a local folder.
    Files are verified before anything is loaded (see the module docs);
    ``allow_pickle`` and ``trusted_types`` are passed to ``kiln.models.load_model``.
    """
    from kiln.models import load_model as load_folder

    folder = model_folder(uri)
    if native:
        return load_folder(
            folder, native=True, allow_pickle=allow_pickle, trusted_types=trusted_types
        )
    return load_folder(folder, allow_pickle=allow_pickle, trusted_types=trusted_types)
