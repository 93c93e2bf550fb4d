"""Flavors: how one kind of model object is saved, loaded and called.

A :class:`Flavor` is four primitives (``detect``, ``save``, ``load``,
``functions``) plus the packages it pins. The registry is a table of name →
``"dotted.module:Class"`` resolved on first use; third-party flavors arrive
through the ``kiln.flavors`` entry-point group. Nothing registers itself at
import time, and no flavor module imports its library until a method needs it.

Detection order: third-party flavors first (a package installed to handle a
type knows it best), then ``xgboost`` and ``lightgbm`` (their scikit-learn
wrappers are also scikit-learn estimators), ``sklearn``, ``pytorch``,
``onnx``, and ``python_function`` (anything with ``predict``) last.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar

from kiln.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from kiln.models._manifest import Device, Manifest

__all__ = [
    "BUILTIN_FLAVORS",
    "ENTRY_POINT_GROUP",
    "Flavor",
    "ModelFunctions",
    "SavedModel",
    "detect_flavor",
    "get_flavor",
    "known_flavors",
    "type_modules",
]

#: Entry-point group through which other packages add flavors (name = "module:Class").
ENTRY_POINT_GROUP = "kiln.flavors"

#: Built-in flavors in detection order; python_function, the catch-all, stays last.
BUILTIN_FLAVORS: dict[str, str] = {
    "xgboost": "kiln.models._xgboost:XGBoostFlavor",
    "lightgbm": "kiln.models._lightgbm:LightGBMFlavor",
    "sklearn": "kiln.models._sklearn:SklearnFlavor",
    "pytorch": "kiln.models._pytorch:PyTorchFlavor",
    "onnx": "kiln.models._onnx:OnnxFlavor",
    "python_function": "kiln.models._pyfunc:PythonFunctionFlavor",
}
_CATCH_ALL = "python_function"


@dataclass(frozen=True, slots=True)
class SavedModel:
    """What :meth:`Flavor.save` wrote: the main file's format and options for ``load``.

    ``options`` must be plain YAML values (str, int, float, bool, None, lists
    and dicts of them); they are stored as the manifest's ``flavor_options``.
    """

    serialization: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelFunctions:
    """The callables a :class:`~kiln.models.Predictor` wraps; ``predict_proba`` may be absent."""

    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = None


class Flavor(ABC):
    """One kind of model: how to recognise, save, load and call it.

    Subclasses set ``name``, ``packages`` (distributions pinned in the
    requirements) and ``extra`` (the ``kiln-ml`` extra that installs them),
    and implement the four abstract methods. :meth:`save` writes files into
    an empty folder; Kiln hashes whatever it wrote. :meth:`load` receives the
    folder after every file's hash was verified.
    """

    name: ClassVar[str]
    packages: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str] = "ml"

    @abstractmethod
    def detect(self, obj: object) -> bool:
        """Whether ``obj`` is this flavor's; cheap, and without importing the library."""

    @abstractmethod
    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        """Write ``obj`` into ``folder``; ``options`` are the caller's ``flavor_options``.

        ``input_example`` is the caller's example after signature enforcement
        (or ``None``), for flavors that need one, such as tracing.
        """

    @abstractmethod
    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        """The native object saved in ``folder``."""

    @abstractmethod
    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        """``predict`` (and ``predict_proba`` when the model has it) over ``native``."""

    def device(self, obj: Any) -> Device:
        """Where the saved model wants to run; ``cpu`` unless a flavor knows better."""
        return "cpu"

    def require(self, module: str) -> ModuleType:
        """Import ``module``, or explain which extra installs it."""
        try:
            return importlib.import_module(module)
        except ImportError as exc:
            raise NotFound(
                f"the {self.name} flavor needs the {module.split('.')[0]!r} package, which "
                f"cannot be imported ({exc}); install kiln-ml[{self.extra}] to use the "
                f"{self.name} flavor"
            ) from None


def type_modules(obj: object) -> set[str]:
    """The top-level package of every class in ``type(obj)``'s MRO (``{"sklearn", "builtins"}``)."""
    return {cls.__module__.split(".")[0] for cls in type(obj).__mro__}


def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _table() -> dict[str, str]:
    """Third-party flavors first (sorted), then built-ins; a built-in name cannot be replaced."""
    third_party = {
        name: value
        for name, value in sorted(_entry_points().items())
        if name not in BUILTIN_FLAVORS
    }
    return third_party | BUILTIN_FLAVORS


def known_flavors() -> list[str]:
    """Every flavor name available here, in detection order."""
    return list(_table())


def get_flavor(name: str) -> Flavor:
    """The flavor called ``name``; :class:`~kiln.errors.InvalidInput` lists the known ones."""
    table = _table()
    target = table.get(name)
    if target is None:
        raise InvalidInput(
            f"unknown model flavor {name!r}; known flavors: {', '.join(table)} (others come "
            f"from packages that declare a {ENTRY_POINT_GROUP!r} entry point)",
            field="flavor",
        )
    return _resolve(name, target)


def detect_flavor(obj: object) -> Flavor:
    """The first flavor, in detection order, whose ``detect`` accepts ``obj``."""
    for name, target in _table().items():
        flavor = _resolve(name, target)
        if flavor.detect(obj):
            return flavor
    raise InvalidInput(
        f"no flavor recognises a {type(obj).__module__}.{type(obj).__qualname__}; pass "
        f"flavor= (one of {', '.join(_table())}) or wrap the model in an object with a "
        "predict method",
        field="flavor",
    )


def _resolve(name: str, target: str) -> Flavor:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NotFound(
            f"the {name} flavor lives in {module_name!r}, which cannot be imported ({exc}); "
            "install the package that provides it"
        ) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Flavor)):
        raise InvalidInput(f"flavor {name!r} points at {target!r}, which is not a Flavor class")
    return cls()
