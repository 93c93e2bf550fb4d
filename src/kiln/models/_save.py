"""``save_model``: write a model folder (files, input example, manifest) in one step.

The folder is built under a temporary sibling name and renamed into place
at the end, so nobody sees a half-written model, and a failure leaves
nothing behind. The caller (``log_model`` in tracking) can then upload the
folder's files, listed with their digests in :attr:`ModelInfo.files`.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kiln._version import __version__
from kiln.errors import AlreadyExists, InvalidInput, KilnError
from kiln.models._example import as_example, write_input_example
from kiln.models._files import file_entries, hash_file
from kiln.models._flavor import Flavor, detect_flavor, get_flavor
from kiln.models._infra import measure_infra
from kiln.models._manifest import (
    MANIFEST_NAME,
    PICKLE_SERIALIZATIONS,
    FileEntry,
    InfraNeeds,
    Manifest,
)
from kiln.models._mlmodel import write_mlmodel
from kiln.models._requirements import collect_requirements
from kiln.models._signature import Signature, infer_signature

__all__ = ["ModelInfo", "save_model"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What :func:`save_model` wrote: the folder, its manifest and the manifest's digest.

    ``files`` lists every file of the folder, the manifest last, each with
    its SHA-256 and size: what a caller uploads to the artifact store.
    """

    path: Path
    manifest: Manifest
    manifest_sha256: str
    manifest_size: int

    @property
    def flavor(self) -> str:
        return self.manifest.flavor

    @property
    def files(self) -> tuple[FileEntry, ...]:
        own = FileEntry(MANIFEST_NAME, self.manifest_sha256, self.manifest_size)
        return (*self.manifest.files, own)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    *,
    flavor: str | None = None,
    signature: Signature | None = None,
    input_example: Any = None,
    allow_pickle: bool = False,
    requirements: Iterable[str] | None = None,
    infra: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    flavor_options: Mapping[str, Any] | None = None,
) -> ModelInfo:
    """Save ``model`` into the new (or empty) folder ``path``; see ``docs/models.md``.

    The flavor is detected from the object unless ``flavor`` names one. With
    an ``input_example`` and no ``signature``, the signature is inferred
    from the example and the model's prediction on it. ``requirements`` adds
    pins to the flavor's (a bare name is pinned to its installed version);
    ``infra`` overrides measured needs (``device``, ``cpu``,
    ``memory_load_mb``, ``memory_serve_mb``); ``metadata`` is any plain YAML
    mapping; ``flavor_options`` go to the flavor (``{"format": "json"}``
    for xgboost, ``{"format": "state_dict", "init_kwargs": {...}}`` for
    pytorch). Pickle is used only with ``allow_pickle=True``.

    Raises :class:`~kiln.errors.AlreadyExists` when ``path`` is a file or a
    non-empty folder, :class:`~kiln.errors.InvalidInput` for an unknown or
    mismatched flavor, an unsupported object, bad options, or a model that
    fails on its own input example.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise AlreadyExists(
            f"{str(target)!r} exists and is not an empty folder; save the model to a new path",
            field="path",
        )
    chosen = _choose_flavor(model, flavor)
    InfraNeeds().with_overrides(infra or {})  # refuse bad overrides before any work
    options = _plain(flavor_options or {}, "flavor_options")
    extra_metadata = _plain(metadata or {}, "metadata")
    example = None if input_example is None else as_example(input_example)
    if example is not None:
        if signature is None:
            signature = infer_signature(example, _predict_example(chosen, model, options, example))
        else:
            example = signature.enforce(example)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.kiln-tmp-{secrets.token_hex(6)}"
    staging.mkdir()
    try:
        manifest = _write(chosen, model, staging, options, example, signature, allow_pickle)
        manifest = replace(
            manifest,
            requirements=collect_requirements(_packages(chosen, signature), requirements or ()),
            metadata=extra_metadata,
        )
        manifest = replace(manifest, infra=_infra(chosen, model, staging, manifest, example, infra))
        manifest_path = staging / MANIFEST_NAME
        manifest_path.write_text(manifest.to_yaml(), "utf-8")
        digest, size = hash_file(manifest_path), manifest_path.stat().st_size
        _publish(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ModelInfo(path=target, manifest=manifest, manifest_sha256=digest, manifest_size=size)


def _publish(staging: Path, target: Path) -> None:
    """Rename the finished folder into place; another writer that got there first wins."""
    try:
        if target.exists():
            target.rmdir()  # empty when checked; rename cannot replace a folder everywhere
        staging.rename(target)
    except OSError:
        if target.exists():
            raise AlreadyExists(
                f"{str(target)!r} was created by someone else while this model was being "
                "saved; save the model to a new path",
                field="path",
            ) from None
        raise


def _choose_flavor(model: Any, name: str | None) -> Flavor:
    if name is None:
        return detect_flavor(model)
    chosen = get_flavor(name)
    if not chosen.detect(model):
        raise InvalidInput(
            f"the {name} flavor does not handle a {type(model).__module__}."
            f"{type(model).__qualname__}; leave flavor= out to detect one",
            field="flavor",
        )
    return chosen


def _plain(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    """``value`` as a dict, refused unless YAML's safe dumper can write it."""
    import yaml

    try:
        yaml.safe_dump(dict(value))
    except (yaml.YAMLError, TypeError, ValueError) as exc:
        raise InvalidInput(
            f"{field} must hold plain values (str, int, float, bool, None, lists, dicts): {exc}",
            field=field,
        ) from None
    return dict(value)


def _predict_example(chosen: Flavor, model: Any, options: Mapping[str, Any], example: Any) -> Any:
    try:
        return chosen.functions(model, options).predict(example)
    except KilnError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"the model failed to predict its own input_example ({type(exc).__name__}: {exc}); "
            "pass an example the model accepts",
            field="input_example",
        ) from exc


def _write(
    chosen: Flavor,
    model: Any,
    folder: Path,
    options: Mapping[str, Any],
    example: Any,
    signature: Signature | None,
    allow_pickle: bool,
) -> Manifest:
    try:
        saved = chosen.save(
            model, folder, options=options, allow_pickle=allow_pickle, input_example=example
        )
    except KilnError:
        raise
    except Exception as exc:
        raise InvalidInput(
            f"the {chosen.name} flavor could not save a {type(model).__qualname__} "
            f"({type(exc).__name__}: {exc})",
            field="model",
        ) from exc
    pickled = saved.serialization in PICKLE_SERIALIZATIONS
    if pickled and not allow_pickle:
        raise InvalidInput(
            f"the {chosen.name} flavor pickled the model, which needs allow_pickle=True",
            field="allow_pickle",
        )
    example_file = None if example is None else write_input_example(example, folder)
    write_mlmodel(folder, chosen.name, saved.options, signature)
    return Manifest(
        flavor=chosen.name,
        serialization=saved.serialization,
        files=file_entries(folder),
        requirements=(),
        python_version=platform.python_version(),
        kiln_version=__version__,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        infra=InfraNeeds(),
        signature=signature,
        input_example=example_file,
        flavor_options=_plain(saved.options, "flavor_options"),
        allow_pickle=pickled,
    )


def _packages(chosen: Flavor, signature: Signature | None) -> tuple[str, ...]:
    if signature is not None and signature.kind == "dataframe":
        return (*chosen.packages, "pandas")
    return chosen.packages


def _infra(
    chosen: Flavor,
    model: Any,
    folder: Path,
    manifest: Manifest,
    example: Any,
    overrides: Mapping[str, Any] | None,
) -> InfraNeeds:
    # The round trip trusts the types this process has just written.
    trusted = frozenset(manifest.flavor_options.get("untrusted_types") or ())

    def load() -> Any:
        try:
            return chosen.load(
                folder, manifest, allow_pickle=manifest.allow_pickle, trusted_types=trusted
            )
        except KilnError:
            raise
        except Exception as exc:
            raise InvalidInput(
                f"the {chosen.name} flavor saved the model but cannot load it back "
                f"({type(exc).__name__}: {exc})",
                field="model",
            ) from exc

    def predict(native: Any) -> Any:
        return chosen.functions(native, manifest.flavor_options).predict(example)

    return measure_infra(
        device=chosen.device(model),
        files_size=sum(entry.size for entry in manifest.files),
        load=load,
        predict=None if example is None else predict,
        overrides=dict(overrides or {}),
    )
