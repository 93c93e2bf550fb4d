"""``load_model``: read the manifest, verify every file, load through the flavor.

A folder with an MLflow ``MLmodel`` and no ``kiln-model.yaml`` is read by
``_mlflow_format`` instead (same options, same kind of result, no hashes to check).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, overload

from kiln.errors import Conflict, InvalidInput, KilnError, PermissionDenied
from kiln.models._files import verify_folder
from kiln.models._flavor import get_flavor
from kiln.models._manifest import read_manifest
from kiln.models._predictor import Predictor

__all__ = ["load_model"]


@overload
def load_model(
    path: str | os.PathLike[str],
    *,
    native: Literal[False] = False,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Predictor: ...


@overload
def load_model(
    path: str | os.PathLike[str],
    *,
    native: Literal[True],
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Any: ...


def load_model(
    path: str | os.PathLike[str],
    *,
    native: bool = False,
    allow_pickle: bool = False,
    trusted_types: Iterable[str] = (),
) -> Any:
    """The model saved in the folder ``path``: a :class:`Predictor`, or the native object.

    Every file's SHA-256 is checked against the manifest before the flavor
    reads anything. ``allow_pickle=True`` is needed for models saved with
    pickle; ``trusted_types`` names extra types a skops file may rebuild.

    A folder saved by MLflow (an ``MLmodel`` file and no ``kiln-model.yaml``)
    is loaded through Kiln's flavors where its files are in a safe format,
    and only with ``allow_pickle=True`` where they are pickles; MLflow records
    no hashes, so its files are not verified here (see ``_mlflow_format``).

    Raises :class:`~kiln.errors.NotFound` when there is no model folder,
    :class:`~kiln.errors.PermissionDenied` for a pickled model without
    ``allow_pickle`` or an untrusted skops type, :class:`~kiln.errors.Conflict`
    naming the file when a file is missing, changed or not in the manifest,
    or when the flavor cannot read it (often a library version mismatch).
    """
    if isinstance(trusted_types, str):
        raise InvalidInput("trusted_types must be a list of type names, not one string")
    from kiln.models._mlflow_format import is_mlflow_folder, load_mlflow_model

    folder = Path(path)
    if is_mlflow_folder(folder):
        return load_mlflow_model(
            folder, native=native, allow_pickle=allow_pickle, trusted_types=frozenset(trusted_types)
        )
    manifest = read_manifest(folder)
    if manifest.allow_pickle and not allow_pickle:
        raise PermissionDenied(
            f"the model at {str(folder)!r} was saved with {manifest.serialization}, and loading "
            "a pickle runs whatever code it contains; pass allow_pickle=True only if you trust "
            "whoever saved it",
            field="allow_pickle",
        )
    verify_folder(folder, manifest.files)
    flavor = get_flavor(manifest.flavor)
    try:
        loaded = flavor.load(
            folder, manifest, allow_pickle=allow_pickle, trusted_types=frozenset(trusted_types)
        )
    except KilnError:
        raise
    except Exception as exc:
        raise Conflict(
            f"the {flavor.name} flavor cannot load the model at {str(folder)!r} "
            f"({type(exc).__name__}: {exc}); check the installed packages against the "
            f"model's requirements: {', '.join(manifest.requirements)}"
        ) from exc
    if native:
        return loaded
    return Predictor(loaded, flavor.functions(loaded, manifest.flavor_options), manifest)
