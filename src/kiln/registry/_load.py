"""``load_model(uri)``: a local, verified folder for a model URI, then ``kiln.models.load_model``.

Models from runs (``runs:/…``, and versions registered from runs) are
downloaded once into ``$KILN_HOME/cache/models/<manifest sha256>/``: the
manifest's digest names the folder, so a version, its aliases and its run all
share one copy, and a new version with the same files costs no download. The
folder is filled under a temporary name and renamed into place, so a reader
never sees half a model. Every load checks the manifest's SHA-256 against the
registered one and ``kiln.models.load_model`` checks every other file against
the manifest: a changed cached file is refused with ``Conflict``, never loaded.

Models in MLflow's format (versions registered by the ``mlflow`` client, with
no Kiln manifest) have no manifest to pin them. Their source names where the
files are: ``models:/m-<id>`` or ``mlflow-artifacts:/<exp>/models/<id>/artifacts/…``
(a logged model's files), ``runs:/<run>/<path>`` or
``mlflow-artifacts:/<exp>/<run>/artifacts/<path>`` (a run's). The artifact
store recorded each file's SHA-256 at upload; that list of (path, digest,
size) is the pin instead. Its own SHA-256 names the cache folder
(``cache/models/mlflow/<sha256 of the list>/``: content-addressed, so a
version number reused after a delete can never pick up another model's
copy), every file is checked against its digest after the download and again
on every load, and ``kiln.models.load_model`` then reads the ``MLmodel``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from kiln.artifacts import validate_artifact_path
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.models import MANIFEST_NAME, FileEntry
from kiln.registry._entities import MODELS_SCHEME, ModelVersion

if TYPE_CHECKING:
    from kiln.tracking import RunArtifact

RUNS_SCHEME = "runs:/"
MLFLOW_ARTIFACTS_SCHEME = "mlflow-artifacts:"
MLMODEL_NAME = "MLmodel"


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
        return _foreign_version_folder(version, what)
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


@dataclass(frozen=True, slots=True)
class _Stored:
    """Where an MLflow-format model's files are: under ``prefix`` of a run or a logged model."""

    kind: Literal["run", "logged model"]
    owner: str
    prefix: str


def _stored_source(source: str) -> _Stored | None:
    """The run or logged model a source names; None when it is neither."""
    if source.startswith(MODELS_SCHEME):
        model_id = source[len(MODELS_SCHEME) :].strip("/")
        if model_id.startswith("m-") and "/" not in model_id and "@" not in model_id:
            return _Stored("logged model", model_id, "")
        return None
    if source.startswith(RUNS_SCHEME):
        from kiln.models import parse_runs_uri

        run_id, path = parse_runs_uri(source)
        return _Stored("run", run_id, path)
    if not source.startswith(MLFLOW_ARTIFACTS_SCHEME):
        return None
    path = urlsplit(source).path.strip("/")
    parts = validate_artifact_path(path).split("/") if path else []
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        return _Stored("logged model", parts[2], "/".join(parts[4:]))
    if len(parts) >= 3 and parts[2] == "artifacts":
        return _Stored("run", parts[1], "/".join(parts[3:]))
    raise InvalidInput(
        f"{source!r} is not mlflow-artifacts:/<experiment>/<run>/artifacts/<path> or "
        "mlflow-artifacts:/<experiment>/models/<model_id>/artifacts",
        field="source",
    )


def _foreign_version_folder(version: ModelVersion, what: str) -> Path:
    """The folder of a version registered without a Kiln manifest (an MLflow model)."""
    stored = _stored_source(version.source)
    if stored is not None:
        return _mlflow_folder(stored, what)
    source = version.source
    local = Path(urlsplit(source).path if source.startswith("file:") else source)
    if local.is_dir() and (local / MLMODEL_NAME).is_file():
        return local  # a local MLflow folder: nothing recorded to verify it against
    raise Conflict(
        f"{what} was registered from {version.source!r} without a Kiln manifest, and Kiln "
        "cannot fetch that source; it loads versions from models:/m-<id>, runs:/<run>/<path>, "
        "mlflow-artifacts:/… and local MLflow model folders"
    )


def _listing(stored: _Stored, what: str) -> list[RunArtifact]:
    """The files of ``stored`` with the digests recorded at upload (paths from the owner's root)."""
    if stored.kind == "logged model":
        from kiln.tracking._model_files import list_logged_model_files

        found = list_logged_model_files(stored.owner, stored.prefix)
        if found.status != "READY":
            raise Conflict(
                f"{what}: logged model {stored.owner} is {found.status}, not READY; its files "
                "were not all uploaded (log the model again)"
            )
        artifacts = list(found.files)
    else:
        from kiln import tracking

        artifacts = tracking.list_artifacts(stored.owner, stored.prefix)
    prefix = f"{stored.prefix}/" if stored.prefix else ""
    inside = [artifact for artifact in artifacts if artifact.path.startswith(prefix)]
    names = {artifact.path[len(prefix) :] for artifact in inside}
    if MLMODEL_NAME not in names and MANIFEST_NAME not in names:
        where = f"{stored.prefix!r} of" if stored.prefix else "the files of"
        raise NotFound(
            f"{what}: {where} {stored.kind} {stored.owner} hold no MLmodel or "
            f"{MANIFEST_NAME}, so there is no model to load"
        )
    return inside


def _download(stored: _Stored, artifact: RunArtifact, root: Path) -> None:
    if stored.kind == "logged model":
        from kiln.tracking._model_files import download_logged_model_file

        download_logged_model_file(stored.owner, artifact, root)
    else:
        from kiln.tracking._fluent import backend

        backend().download_artifact(stored.owner, artifact, root)


def _verify(folder: Path, entries: tuple[FileEntry, ...], why: str) -> None:
    """Every file of ``folder`` is one of ``entries``, with its recorded SHA-256 and size."""
    from kiln.models._files import verify_folder

    try:
        verify_folder(folder, entries)
    except Conflict as exc:
        raise Conflict(f"{why}: {exc.message}", field=exc.field) from None
    # verify_folder skips a manifest it was not told about; here one would change the loader.
    if (folder / MANIFEST_NAME).exists() and all(e.path != MANIFEST_NAME for e in entries):
        raise Conflict(f"{why}: {MANIFEST_NAME} appeared in {str(folder)!r}", field=MANIFEST_NAME)


def _mlflow_folder(stored: _Stored, what: str) -> Path:
    """The cached, verified folder of an MLflow-format model (downloaded on first use)."""
    listed = _listing(stored, what)
    skip = len(stored.prefix) + 1 if stored.prefix else 0
    entries = tuple(
        sorted((FileEntry(a.path[skip:], a.digest, a.size) for a in listed), key=lambda e: e.path)
    )
    pin = "\n".join(f"{e.path}\t{e.sha256}\t{e.size}" for e in entries)
    root = cache_root() / "mlflow"
    final = root / hashlib.sha256(pin.encode()).hexdigest()
    if final.is_dir():
        _verify(
            final,
            entries,
            f"the cached copy of {what} was changed (delete {str(final)!r} to download it again)",
        )
        return final
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".download-") as staging:
        files = Path(staging) / "files"
        for artifact in listed:
            _download(stored, artifact, files)
        local = files / stored.prefix if stored.prefix else files
        _verify(local, entries, f"the downloaded files of {what} differ from those uploaded")
        try:
            local.rename(final)
        except OSError:
            if not final.is_dir():  # not another process finishing the same download first
                raise
    return final


def model_folder(uri: str | os.PathLike[str]) -> Path:
    """A local folder for ``runs:/``, ``models:/``, ``mlflow-artifacts:/`` or a folder path."""
    schemes = (RUNS_SCHEME, MODELS_SCHEME, MLFLOW_ARTIFACTS_SCHEME)
    if isinstance(uri, os.PathLike) or not uri.startswith(schemes):
        return Path(uri)
    if uri.startswith(RUNS_SCHEME):
        from kiln import tracking
        from kiln.models import parse_runs_uri

        run_id, path = parse_runs_uri(uri)
        try:
            digest = run_manifest_digest(run_id, path)
        except NotFound:
            mlmodel = f"{path}/{MLMODEL_NAME}"
            if all(a.path != mlmodel for a in tracking.list_artifacts(run_id, mlmodel)):
                raise
            return _mlflow_folder(_Stored("run", run_id, path), f"the model {uri}")
        return _from_run(run_id, path, digest, f"the model {uri}")
    stored = _stored_source(uri)
    if stored is not None:
        return _mlflow_folder(stored, f"the model {uri}")
    from kiln.lineage import Node, report_used
    from kiln.registry._fluent import resolve_version

    version = resolve_version(uri)
    report_used(Node.model_version(version.name, version.version))
    return version_folder(version)


def load_model(
    uri: str | os.PathLike[str],
    *,
    native: bool = False,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Any:
    """The model at ``uri`` as a :class:`~kiln.models.Predictor` (or the native object).

    ``uri`` is ``runs:/<run_id>/<path>``, ``models:/<name>/<version>``,
    ``models:/<name>/latest``, ``models:/<name>@<alias>``, an MLflow logged
    model (``models:/m-<id>``, ``mlflow-artifacts:/…``) or a local folder.
    Files are verified before anything is loaded (see the module docs);
    ``allow_pickle`` and ``trusted_types`` are passed to ``kiln.models.load_model``,
    which reads Kiln's format or MLflow's.
    """
    from kiln.models import load_model as load_folder

    folder = model_folder(uri)
    if native:
        return load_folder(
            folder, native=True, allow_pickle=allow_pickle, trusted_types=trusted_types
        )
    return load_folder(folder, allow_pickle=allow_pickle, trusted_types=trusted_types)
