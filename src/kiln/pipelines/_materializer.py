"""Materializers: how a step's output becomes blobs in the artifact store, and back.

A :class:`Materializer` is three primitives (``handles``, ``save``,
``load``) plus a ``name`` and a ``version`` that enter the cache key. The
registry is a table of name → ``"dotted.module:Class"``, resolved on first
use; other packages add materializers through the ``kiln.materializers``
entry-point group, and theirs are tried first. Nothing registers itself at
import time, and no materializer imports its library before it is used.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from kiln._plugins import entry_point_table, plugin_class
from kiln.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore

__all__ = [
    "BUILTIN_MATERIALIZERS",
    "MATERIALIZERS_ENTRY_POINT_GROUP",
    "Materializer",
    "Materializers",
]

#: Entry-point group through which other packages add materializers ("module:Class").
MATERIALIZERS_ENTRY_POINT_GROUP = "kiln.materializers"

#: Built-in materializers, in the order they are tried; json before kiln_model, which
#: asks every model flavor.
BUILTIN_MATERIALIZERS: dict[str, str] = {
    "pandas": "kiln.pipelines._materializers:PandasMaterializer",
    "polars": "kiln.pipelines._materializers:PolarsMaterializer",
    "arrow": "kiln.pipelines._materializers:ArrowMaterializer",
    "numpy": "kiln.pipelines._materializers:NumpyMaterializer",
    "json": "kiln.pipelines._materializers:JsonMaterializer",
    "kiln_model": "kiln.pipelines._model_materializer:KilnModelMaterializer",
}


class Materializer(ABC):
    """Stores one kind of value as blobs and reads it back.

    Subclasses set ``name`` and ``version`` (change the version whenever the
    stored form changes: cached outputs written by another version are then
    not reused) and implement the three abstract methods.
    """

    name: ClassVar[str]
    version: ClassVar[str] = "1"

    @abstractmethod
    def handles(self, obj: object) -> bool:
        """Whether this materializer stores ``obj``; cheap, and without importing a library."""

    @abstractmethod
    def save(self, obj: Any, store: ArtifactStore) -> str:
        """Write ``obj`` to ``store``; return the digest of the blob that :meth:`load` reads."""

    @abstractmethod
    def load(self, store: ArtifactStore, digest: str) -> Any:
        """The value saved under ``digest``."""

    def blobs(self, store: ArtifactStore, digest: str) -> list[str]:
        """Every blob the saved value needs (a cached output is reused only if all exist)."""
        return [digest]


class Materializers:
    """The materializer table of one process or run: entry points first, then built-ins.

    Built from the installed entry points by :meth:`discover`; instances are
    made on first use and kept.
    """

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self._instances: dict[str, Materializer] = {}

    @classmethod
    def discover(cls) -> Materializers:
        installed = entry_point_table(MATERIALIZERS_ENTRY_POINT_GROUP)
        third_party = {
            name: installed[name] for name in sorted(installed) if name not in BUILTIN_MATERIALIZERS
        }
        return cls(third_party | BUILTIN_MATERIALIZERS)

    def names(self) -> list[str]:
        return list(self.table)

    def get(self, name: str) -> Materializer:
        """The materializer called ``name``; NotFound when it is not installed here."""
        found = self._instances.get(name)
        if found is not None:
            return found
        target = self.table.get(name)
        if target is None:
            raise NotFound(
                f"unknown materializer {name!r}; known: {', '.join(self.table)} (others come "
                f"from packages declaring a {MATERIALIZERS_ENTRY_POINT_GROUP!r} entry point)"
            )
        instance: Materializer = plugin_class(target, Materializer, f"the {name} materializer")()
        self._instances[name] = instance
        return instance

    def for_value(self, obj: object, step: str) -> Materializer:
        """The first materializer that handles ``obj``; InvalidInput names the step and type."""
        for name in self.table:
            materializer = self.get(name)
            if materializer.handles(obj):
                return materializer
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise InvalidInput(
            f"step {step!r} returned a {kind}, which no materializer can store; return a pandas "
            "or polars DataFrame, an Arrow table, a NumPy array, a model Kiln can save, or a "
            f"JSON value, or install a materializer for {kind} (entry-point group "
            f"{MATERIALIZERS_ENTRY_POINT_GROUP!r})"
        )
