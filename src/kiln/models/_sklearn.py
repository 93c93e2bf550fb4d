"""The ``sklearn`` flavor: scikit-learn estimators and pipelines, stored with skops.

skops writes a model as data (a JSON schema plus NumPy arrays) and rebuilds
it without unpickling, but only from types it is told to trust. Loading
here trusts a type only when it is both

- recorded in the manifest (the types ``skops.io.get_untrusted_types``
  reported when the model was saved), and
- in :data:`DEFAULT_TRUSTED_PREFIXES` (scikit-learn, NumPy and SciPy types),
  or named by the caller in ``trusted_types``;

anything else is refused with :class:`~kiln.errors.PermissionDenied`
naming the type.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, PermissionDenied
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel, type_modules

if TYPE_CHECKING:
    from kiln.models._manifest import Manifest

__all__ = ["DEFAULT_TRUSTED_PREFIXES", "SklearnFlavor"]

#: Modules whose types skops may rebuild without the caller naming them.
DEFAULT_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")
MODEL_FILE = "model.skops"


class SklearnFlavor(Flavor):
    """Any object whose class derives from a scikit-learn class (estimators, pipelines)."""

    name = "sklearn"
    packages = ("scikit-learn", "skops", "numpy", "scipy")

    def detect(self, obj: object) -> bool:
        return "sklearn" in type_modules(obj) and hasattr(obj, "predict")

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        sio = self.require("skops.io")
        path = folder / MODEL_FILE
        sio.dump(obj, path)
        untrusted = sorted(str(name) for name in sio.get_untrusted_types(file=path))
        return SavedModel(
            serialization="skops",
            options={
                "estimator": f"{type(obj).__module__}.{type(obj).__qualname__}",
                "untrusted_types": untrusted,
                "predict_proba": hasattr(obj, "predict_proba"),
            },
        )

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        sio = self.require("skops.io")
        path = folder / MODEL_FILE
        recorded = set(manifest.flavor_options.get("untrusted_types") or ())
        found = [str(name) for name in sio.get_untrusted_types(file=path)]
        for name in found:
            if name not in recorded:
                raise Conflict(
                    f"{MODEL_FILE} contains the type {name!r}, which its manifest does not "
                    "record; the model was changed after it was saved, so it is refused",
                    field=MODEL_FILE,
                )
            if not name.startswith(DEFAULT_TRUSTED_PREFIXES) and name not in trusted_types:
                raise PermissionDenied(
                    f"{MODEL_FILE} contains the type {name!r}, which is not a scikit-learn, "
                    "NumPy or SciPy type; rebuilding it could run its code. If you trust it, "
                    f"pass trusted_types=[{name!r}] to load_model",
                    field=name,
                )
        return sio.load(path, trusted=found)

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        proba = native.predict_proba if hasattr(native, "predict_proba") else None
        return ModelFunctions(predict=native.predict, predict_proba=proba)
