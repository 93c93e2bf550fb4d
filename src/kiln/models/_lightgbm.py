"""The ``lightgbm`` flavor: boosters and their scikit-learn wrappers, as LightGBM text.

The booster is written with ``Booster.save_model`` (``model.txt``, plain
text). LightGBM has no public way to rebuild a fitted ``LGBMClassifier``
around a loaded booster, so Kiln does not try (it would mean setting private
attributes that change between releases). Instead the manifest records the
wrapper's class and, for classifiers, its ``classes_``; the
:class:`~kiln.models.Predictor` then gives the wrapper's ``predict``
(original class labels) and ``predict_proba``, computed from the booster as
LightGBM does. ``load_model(..., native=True)`` returns the
``lightgbm.Booster``. This holds for LightGBM's built-in objectives; a custom
objective's raw scores are returned as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel, type_modules

if TYPE_CHECKING:
    from kiln.models._manifest import Device, Manifest

__all__ = ["LightGBMFlavor"]

MODEL_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    """``lightgbm.Booster`` and the ``lightgbm.LGBMModel`` scikit-learn wrappers."""

    name = "lightgbm"
    packages = ("lightgbm", "numpy", "scipy")

    def detect(self, obj: object) -> bool:
        return "lightgbm" in type_modules(obj) and hasattr(obj, "predict")

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        class_name = type(obj).__name__
        booster = obj if class_name == "Booster" else obj.booster_
        booster.save_model(str(folder / MODEL_FILE))
        saved: dict[str, Any] = {"model_class": class_name}
        if hasattr(obj, "classes_"):
            saved["classes"] = obj.classes_.tolist()
        return SavedModel(serialization="lightgbm-text", options=saved)

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        lgb = self.require("lightgbm")
        return lgb.Booster(model_file=str(folder / MODEL_FILE))

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        import numpy as np

        if type(native).__name__ != "Booster":  # a wrapper handed over directly (at save)
            proba = native.predict_proba if hasattr(native, "predict_proba") else None
            return ModelFunctions(predict=native.predict, predict_proba=proba)
        classes = options.get("classes")
        if classes is None:
            return ModelFunctions(predict=native.predict)
        if not isinstance(classes, list) or len(classes) < 2:
            raise InvalidInput(f"the lightgbm manifest records bad classes {classes!r}")
        labels = np.asarray(classes)

        def predict_proba(data: Any) -> Any:
            scores = np.asarray(native.predict(data))
            if scores.ndim == 1:  # binary: the probability of the second class
                return np.column_stack([1.0 - scores, scores])
            return scores

        def predict(data: Any) -> Any:
            return labels[np.argmax(predict_proba(data), axis=1)]

        return ModelFunctions(predict=predict, predict_proba=predict_proba)

    def device(self, obj: Any) -> Device:
        params = obj.params if type(obj).__name__ == "Booster" else obj.get_params()
        device = str(params.get("device_type") or params.get("device") or "cpu")
        return "gpu" if device in ("gpu", "cuda") else "cpu"
