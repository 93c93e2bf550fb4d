"""A model URI resolved once to a local, verified folder (and the registry version it names).

Batch scoring and ``kiln build`` both need the folder (to load or to copy)
and, for ``models:/`` URIs, the version number (to report what was used).
An alias is resolved to its version first and the folder fetched by that
number, so a job that starts while the alias moves still reads one version
from start to end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kiln.errors import InvalidInput

__all__ = ["ResolvedModel", "resolve_model"]


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """Where a model URI's files are here, and which registered version that is (if any)."""

    uri: str
    folder: Path
    name: str | None = None
    version: int | None = None
    manifest_sha256: str | None = None

    @property
    def version_uri(self) -> str | None:
        """``models:/<name>/<version>`` when the URI named a registered version, else None."""
        if self.name is None or self.version is None:
            return None
        return f"models:/{self.name}/{self.version}"


def resolve_model(uri: str | os.PathLike[str]) -> ResolvedModel:
    """The folder of ``uri`` (anything ``kiln.registry.load_model`` takes), fetched if need be.

    Registry URIs (``models:/<name>/<n>``, ``/latest``, ``@<alias>``) are
    resolved to a version number first; ``runs:/`` URIs, MLflow logged
    models and folders are passed to the registry's loader as they are.
    Nothing is loaded here, and a folder is not checked to exist:
    ``kiln.models.load_model`` / ``read_manifest`` say what is missing.
    """
    from kiln.registry._load import model_folder

    text = os.fspath(uri)
    if isinstance(uri, os.PathLike) or not text.startswith("models:/"):
        return ResolvedModel(text, model_folder(uri))
    from kiln.registry import parse_models_uri
    from kiln.registry._fluent import resolve_version

    try:
        parse_models_uri(text)
    except InvalidInput:  # models:/m-<id>: an MLflow logged model, not a registry version
        return ResolvedModel(text, model_folder(text))
    version = resolve_version(text)
    return ResolvedModel(
        text,
        model_folder(version.uri),
        name=version.name,
        version=version.version,
        manifest_sha256=version.manifest_sha256 or None,
    )
