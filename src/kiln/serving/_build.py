"""``build(model_uri, out_dir)``: a Docker build context that serves one model.

::

    out_dir/
      Dockerfile          _build_dockerfile.py: python:<3.x>-slim, locked requirements,
                          non-root user, EXPOSE 8080, HEALTHCHECK /v2/health/ready,
                          CMD kiln serve /model --host 0.0.0.0 --port 8080
      requirements.lock   _build_requirements.py: the manifest's pins + kiln-ml, all ==
      .dockerignore       only the three entries below go to the builder
      model/              the model folder, each file checked against its SHA-256
                          while it is copied

Nothing here runs a container engine: the folder is what ``docker build``
(or podman, buildah, kaniko) takes. The folder is written under a temporary
name beside ``out_dir`` and renamed into place, so a refused requirement or
a corrupted model file leaves no half-written context behind.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import AlreadyExists, Conflict, InvalidInput, PermissionDenied

if TYPE_CHECKING:
    from kiln.models import FileEntry, Manifest
    from kiln.serving._batch_model import ResolvedModel

__all__ = ["BuildResult", "build"]

MODEL_FOLDER = "model"
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class BuildResult:
    """The build context written: its folder, files, base image, pins and a suggested tag."""

    output: Path
    dockerfile: Path
    requirements_file: Path
    model_folder: Path
    base_image: str
    requirements: tuple[str, ...]
    pinned_here: tuple[str, ...]
    model_uri: str
    model_version: str | None
    model_files: int
    tag: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, as ``kiln build --json`` prints it."""
        return {
            "output": str(self.output),
            "dockerfile": str(self.dockerfile),
            "requirements_file": str(self.requirements_file),
            "model_folder": str(self.model_folder),
            "base_image": self.base_image,
            "requirements": list(self.requirements),
            "pinned_here": list(self.pinned_here),
            "model_uri": self.model_uri,
            "model_version": self.model_version,
            "model_files": self.model_files,
            "tag": self.tag,
        }


def build(
    model_uri: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    *,
    pin_installed: bool = False,
    allow_pickle: bool = False,
    overwrite: bool = False,
) -> BuildResult:
    """Write a Docker build context serving the model at ``model_uri`` into ``out_dir``.

    ``model_uri`` is anything ``kiln.registry.load_model`` takes, in Kiln's
    format (a ``kiln-model.yaml``). ``out_dir`` (default
    ``build/<model>-<version>``) is created with its parents and must be
    empty, unless ``overwrite`` replaces it.
    ``pin_installed`` pins requirements the manifest does not pin exactly
    to the versions installed here, saying so in the lock file.
    ``allow_pickle`` is needed for a pickled model, and makes the image
    serve it with ``--allow-pickle``.

    Raises :class:`~kiln.errors.NotFound` for an unknown model,
    :class:`~kiln.errors.InvalidInput` for a requirement that is not locked,
    :class:`~kiln.errors.PermissionDenied` for a pickled model without
    ``allow_pickle``, :class:`~kiln.errors.Conflict` naming a model file
    that does not match its SHA-256, and :class:`~kiln.errors.AlreadyExists`
    when ``out_dir`` holds files and ``overwrite`` is false.
    """
    from kiln._version import __version__
    from kiln.models import MANIFEST_NAME, read_manifest
    from kiln.models._files import hash_file
    from kiln.serving._batch_model import resolve_model
    from kiln.serving._build_dockerfile import (
        DOCKERIGNORE,
        ImageSpec,
        base_image,
        render_dockerfile,
    )
    from kiln.serving._build_requirements import lock_requirements, render_lock

    if out_dir is not None:
        _check_target(Path(out_dir), overwrite)  # before fetching the model
    model = resolve_model(model_uri)
    target = Path(out_dir) if out_dir is not None else default_output(model)
    _check_target(target, overwrite)
    manifest = read_manifest(model.folder)
    if manifest.allow_pickle and not allow_pickle:
        raise PermissionDenied(
            f"the model {model.uri!r} was saved with {manifest.serialization}, and serving a "
            "pickle runs whatever code it contains; pass allow_pickle=True (kiln build "
            "--allow-pickle) only if you trust whoever saved it",
            field="allow_pickle",
        )
    locked = lock_requirements(
        manifest.requirements, kiln_version=__version__, pin_installed=pin_installed
    )
    source = model.version_uri or _described(model)
    spec = ImageSpec(
        base_image=base_image(manifest.python_version),
        python_version=manifest.python_version,
        model_uri=source,
        flavor=manifest.flavor,
        manifest_sha256=model.manifest_sha256 or hash_file(model.folder / MANIFEST_NAME),
        tag=image_tag(model),
        kiln_version=__version__,
        allow_pickle=manifest.allow_pickle,
    )
    with _staged(target) as staging:
        _copy_model(model, manifest, staging / MODEL_FOLDER)
        (staging / "requirements.lock").write_text(render_lock(locked, source=source), "utf-8")
        (staging / "Dockerfile").write_text(render_dockerfile(spec), "utf-8")
        (staging / ".dockerignore").write_text(DOCKERIGNORE, "utf-8")
    return BuildResult(
        output=target,
        dockerfile=target / "Dockerfile",
        requirements_file=target / "requirements.lock",
        model_folder=target / MODEL_FOLDER,
        base_image=spec.base_image,
        requirements=tuple(item.pin for item in locked),
        pinned_here=tuple(item.pin for item in locked if item.note.startswith("pinned")),
        model_uri=model.uri,
        model_version=model.version_uri,
        model_files=len(manifest.files) + 1,
        tag=spec.tag,
    )


def _described(model: ResolvedModel) -> str:
    """The model as the generated files name it: its URI, or a folder's absolute path."""
    if model.uri.startswith(("models:/", "runs:/", "mlflow-artifacts:")):
        return model.uri
    return str(model.folder.resolve())


def default_output(model: ResolvedModel) -> Path:
    """``build/<model>-<version>`` (``build/<folder>-latest`` for a folder or run)."""
    name, _, tag = image_tag(model).removeprefix("kiln-").partition(":")
    return Path("build") / f"{name}-{tag}"


def image_tag(model: ResolvedModel) -> str:
    """A suggested image name: ``kiln-<model name>:<version>`` (``:latest`` for a folder)."""
    if model.name is not None and model.version is not None:
        name, tag = model.name, str(model.version)
    else:
        name, tag = Path(model.uri.rstrip("/")).name or "model", "latest"
    # Image names are lower case: letters, digits and separators, not at either end.
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._") or "model"
    return f"kiln-{slug}:{tag}"


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise InvalidInput(
            f"the output {str(target)!r} is a file; give a folder for the build context",
            field="output",
        )
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise AlreadyExists(
            f"the output folder {str(target)!r} is not empty; remove it, give another, or "
            "pass overwrite=True (kiln build --overwrite) to replace it",
            field="output",
        )


@contextmanager
def _staged(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, put in its place when the block succeeds.

    An existing ``target`` (empty, or replaced on purpose) is moved aside
    first and removed after, so the context is never a mix of two builds.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    temporary.mkdir()
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    old = target.with_name(f".{target.name}.{secrets.token_hex(4)}.old")
    if target.is_dir():
        target.rename(old)
    temporary.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _copy_model(model: ResolvedModel, manifest: Manifest, into: Path) -> None:
    """Copy the manifest's files (and only those), each checked against its SHA-256."""
    from kiln.artifacts import safe_join
    from kiln.models import MANIFEST_NAME

    listed = {entry.path for entry in manifest.files} | {MANIFEST_NAME}
    for root, _, names in os.walk(model.folder):
        for name in names:
            relative = (Path(root) / name).relative_to(model.folder).as_posix()
            if relative not in listed:
                raise Conflict(
                    f"model folder {str(model.folder)!r} holds {relative!r}, which its manifest "
                    "does not list; the folder was changed after it was saved",
                    field=relative,
                )
    for entry in manifest.files:
        _copy_checked(safe_join(model.folder, entry.path), safe_join(into, entry.path), entry)
    manifest_copy = into / MANIFEST_NAME
    digest = _copy(model.folder / MANIFEST_NAME, manifest_copy)
    if model.manifest_sha256 is not None and digest != model.manifest_sha256:
        raise Conflict(
            f"{MANIFEST_NAME} of {model.version_uri} has SHA-256 {digest}, but "
            f"{model.manifest_sha256} was registered",
            field=MANIFEST_NAME,
        )


def _copy_checked(source: Path, destination: Path, entry: FileEntry) -> None:
    if source.is_symlink() or not source.is_file():
        raise Conflict(
            f"model file {entry.path!r} is missing from {str(source.parent)!r}; "
            "the model is incomplete",
            field=entry.path,
        )
    if _copy(source, destination) != entry.sha256 or destination.stat().st_size != entry.size:
        raise Conflict(
            f"model file {entry.path!r} does not match the sha256 in its manifest; it was "
            "changed or corrupted after the model was saved, so it is not copied",
            field=entry.path,
        )


def _copy(source: Path, destination: Path) -> str:
    """Copy a file, hashing the bytes as they are written; their SHA-256."""
    digest = hashlib.sha256()
    destination.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as reader, destination.open("wb") as writer:
        while chunk := reader.read(_CHUNK):
            digest.update(chunk)
            writer.write(chunk)
    return digest.hexdigest()
