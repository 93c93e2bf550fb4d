"""``kiln-model.yaml``: the manifest that makes a model folder self-contained.

The manifest names the flavor, every file with its SHA-256 and size, the
signature, the requirements, the Python version and the infrastructure the
model needs. It is written last by :func:`kiln.models.save_model` and read
first by :func:`kiln.models.load_model`, with PyYAML's safe dumper and
loader only (no Python tags, no object construction).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from kiln.artifacts import validate_artifact_path
from kiln.errors import InvalidInput, NotFound
from kiln.models._signature import Signature

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "PICKLE_SERIALIZATIONS",
    "FileEntry",
    "InfraNeeds",
    "Manifest",
    "read_manifest",
]

#: The manifest's file name inside a model folder.
MANIFEST_NAME = "kiln-model.yaml"
#: Bumped when a reader of an older version could misread a newer manifest.
FORMAT_VERSION = 1
#: Serializations whose loading runs arbitrary code; they need ``allow_pickle=True``.
PICKLE_SERIALIZATIONS = frozenset({"pickle", "cloudpickle"})

Device = Literal["cpu", "gpu"]
_DIGEST_LENGTH = 64


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a model folder: its relative POSIX path, SHA-256 hex digest and size."""

    path: str
    sha256: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_dict(cls, data: Any) -> FileEntry:
        data = _mapping(data, "files[]")
        path = validate_artifact_path(_str(data, "path", "files[].path"))
        digest = _str(data, "sha256", f"files[{path}].sha256")
        if len(digest) != _DIGEST_LENGTH or any(c not in "0123456789abcdef" for c in digest):
            raise InvalidInput(
                f"manifest: file {path!r} has a malformed sha256 {digest!r}", field="sha256"
            )
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInput(f"manifest: file {path!r} has a bad size {size!r}", field="size")
        return cls(path, digest, size)


@dataclass(frozen=True, slots=True)
class InfraNeeds:
    """What serving the model needs: a device, CPU cores and memory in MiB.

    ``memory_load_mb`` is what loading the model adds to a process;
    ``memory_serve_mb`` adds the working set of predicting on the input
    example. ``measured`` says whether the numbers were measured at save time
    (``False`` when the caller gave them all).
    """

    device: Device = "cpu"
    cpu: float = 1.0
    memory_load_mb: int = 1
    memory_serve_mb: int = 1
    measured: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "cpu": self.cpu,
            "memory_load_mb": self.memory_load_mb,
            "memory_serve_mb": self.memory_serve_mb,
            "measured": self.measured,
        }

    def with_overrides(self, overrides: Mapping[str, Any]) -> InfraNeeds:
        """A copy with the caller's values, each checked; unknown keys are refused."""
        known = {"device", "cpu", "memory_load_mb", "memory_serve_mb"}
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            where = f"infra.{key}"
            if key not in known:
                raise InvalidInput(
                    f"unknown infra key {key!r}; use one of {', '.join(sorted(known))}",
                    field=where,
                )
            if key == "device":
                if value not in ("cpu", "gpu"):
                    raise InvalidInput(
                        f"infra device must be 'cpu' or 'gpu', got {value!r}", field=where
                    )
            elif key == "cpu":
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or value <= 0:
                    raise InvalidInput(
                        f"infra cpu must be a positive number of cores, got {value!r}", field=where
                    )
                value = float(value)
            elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidInput(
                    f"{where} must be a whole number of MiB >= 1, got {value!r}", field=where
                )
            changes[key] = value
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Any) -> InfraNeeds:
        data = _mapping(data, "infra")
        measured = bool(data.get("measured", False))
        values = {key: value for key, value in data.items() if key != "measured"}
        return replace(cls().with_overrides(values), measured=measured)


@dataclass(frozen=True, slots=True)
class Manifest:
    """The parsed ``kiln-model.yaml`` of a model folder.

    ``serialization`` names the format of the model's main file (``skops``,
    ``xgboost-ubj``, ``lightgbm-text``, ``onnx``, ``torchscript``,
    ``torch-state-dict``, ``pickle`` or ``cloudpickle``); ``allow_pickle`` is
    true exactly when it is one of :data:`PICKLE_SERIALIZATIONS`.
    """

    flavor: str
    serialization: str
    files: tuple[FileEntry, ...]
    requirements: tuple[str, ...]
    python_version: str
    kiln_version: str
    created_at: str
    infra: InfraNeeds
    signature: Signature | None = None
    input_example: str | None = None
    flavor_options: Mapping[str, Any] = field(default_factory=dict)
    allow_pickle: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    def file(self, path: str) -> FileEntry:
        """The entry for ``path``; :class:`~kiln.errors.NotFound` when the manifest lacks it."""
        for entry in self.files:
            if entry.path == path:
                return entry
        raise NotFound(f"the model manifest lists no file {path!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "flavor": self.flavor,
            "serialization": self.serialization,
            "allow_pickle": self.allow_pickle,
            "flavor_options": dict(self.flavor_options),
            "files": [entry.to_dict() for entry in self.files],
            "signature": None if self.signature is None else self.signature.to_dict(),
            "input_example": self.input_example,
            "requirements": list(self.requirements),
            "python_version": self.python_version,
            "infra": self.infra.to_dict(),
            "created_at": self.created_at,
            "kiln_version": self.kiln_version,
            "metadata": dict(self.metadata),
        }

    def to_yaml(self) -> str:
        import yaml

        class Dumper(yaml.SafeDumper):
            """Block style, except shapes, which read best inline: ``shape: [-1, 20]``."""

        Dumper.add_representer(
            tuple,
            lambda dumper, value: dumper.represent_sequence(
                "tag:yaml.org,2002:seq", value, flow_style=True
            ),
        )
        data = self.to_dict()
        signature = data["signature"]
        if signature is not None:
            for spec in (*signature["inputs"], *signature["outputs"]):
                spec["shape"] = tuple(spec["shape"])
        return yaml.dump(data, Dumper=Dumper, sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        data = _mapping(data, "manifest")
        version = data.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise InvalidInput(f"manifest: format_version must be a number, got {version!r}")
        if version > FORMAT_VERSION:
            raise InvalidInput(
                f"manifest format {version} is newer than this Kiln reads ({FORMAT_VERSION}); "
                "upgrade kiln-ml to load this model",
                field="format_version",
            )
        files = data.get("files")
        if not isinstance(files, list):
            raise InvalidInput("manifest: 'files' must be a list", field="files")
        raw_requirements = data.get("requirements", [])
        if not isinstance(raw_requirements, list) or not all(
            isinstance(item, str) for item in raw_requirements
        ):
            raise InvalidInput("manifest: 'requirements' must be a list of strings")
        signature = data.get("signature")
        example = data.get("input_example")
        if example is not None and not isinstance(example, str):
            raise InvalidInput("manifest: 'input_example' must be a file path")
        serialization = _str(data, "serialization", "serialization")
        return cls(
            flavor=_str(data, "flavor", "flavor"),
            serialization=serialization,
            files=tuple(FileEntry.from_dict(entry) for entry in files),
            requirements=tuple(raw_requirements),
            python_version=_str(data, "python_version", "python_version"),
            kiln_version=_str(data, "kiln_version", "kiln_version"),
            created_at=_str(data, "created_at", "created_at"),
            infra=InfraNeeds.from_dict(data.get("infra", {})),
            signature=None if signature is None else Signature.from_dict(signature),
            input_example=example,
            flavor_options=_mapping(data.get("flavor_options", {}), "flavor_options"),
            # Pickle-based files need the opt-in whatever the flag says.
            allow_pickle=bool(data.get("allow_pickle")) or serialization in PICKLE_SERIALIZATIONS,
            metadata=_mapping(data.get("metadata", {}), "metadata"),
            format_version=version,
        )

    @classmethod
    def from_yaml(cls, text: str, *, source: str = MANIFEST_NAME) -> Manifest:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInput(f"{source} is not valid YAML: {exc}") from None
        return cls.from_dict(data)


def read_manifest(path: str | Path) -> Manifest:
    """The manifest of the model folder ``path`` (or of the manifest file itself).

    Raises :class:`~kiln.errors.NotFound` when there is no such folder or it
    holds no ``kiln-model.yaml``, :class:`~kiln.errors.InvalidInput` when the
    manifest is malformed. Reading it verifies no file; :func:`load_model` does.
    """
    location = Path(path)
    manifest_path = location if location.name == MANIFEST_NAME else location / MANIFEST_NAME
    if not location.exists():
        raise NotFound(f"no model folder at {str(location)!r}")
    if not manifest_path.is_file():
        raise NotFound(
            f"{str(location)!r} is not a Kiln model folder: it has no {MANIFEST_NAME}; "
            "save one with kiln.models.save_model"
        )
    return Manifest.from_yaml(manifest_path.read_text("utf-8"), source=str(manifest_path))


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"manifest: {where!r} must be a mapping, got {type(value).__name__}")
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidInput(
            f"manifest: {where!r} must be a non-empty string, got {value!r}", field=key
        )
    return value
