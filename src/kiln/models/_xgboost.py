"""The ``xgboost`` flavor: boosters and their scikit-learn wrappers, in XGBoost's own format.

``save_model`` writes UBJSON (``model.ubj``, the default) or JSON
(``flavor_options={"format": "json"}``); both hold the trees and, for the
scikit-learn wrappers (``XGBClassifier`` and friends), the wrapper's
attributes, so the same class comes back on load. No pickle is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel, type_modules

if TYPE_CHECKING:
    from kiln.models._manifest import Device, Manifest

__all__ = ["XGBoostFlavor"]

_FORMATS = ("ubj", "json")
# Classes a manifest may name; a manifest is data, so it cannot pick any attribute.
_CLASSES = frozenset(
    {"Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)


class XGBoostFlavor(Flavor):
    """``xgboost.Booster`` and the ``xgboost.XGBModel`` scikit-learn wrappers."""

    name = "xgboost"
    packages = ("xgboost", "numpy", "scipy")

    def detect(self, obj: object) -> bool:
        return "xgboost" in type_modules(obj) and type(obj).__name__ in _CLASSES

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        fmt = options.get("format", "ubj")
        if fmt not in _FORMATS:
            raise InvalidInput(
                f"xgboost format must be one of {', '.join(_FORMATS)}, got {fmt!r}",
                field="flavor_options.format",
            )
        file = f"model.{fmt}"
        obj.save_model(str(folder / file))
        return SavedModel(
            serialization=f"xgboost-{fmt}",
            options={"file": file, "model_class": type(obj).__name__},
        )

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        xgb = self.require("xgboost")
        options = manifest.flavor_options
        class_name, file = options.get("model_class"), options.get("file")
        if class_name not in _CLASSES or file not in ("model.ubj", "model.json"):
            raise InvalidInput(
                f"the xgboost manifest names model_class {class_name!r} and file {file!r}; "
                f"expected one of {', '.join(sorted(_CLASSES))} and model.ubj or model.json"
            )
        model = getattr(xgb, class_name)()
        model.load_model(str(folder / file))
        return model

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        if type(native).__name__ != "Booster":
            proba = native.predict_proba if hasattr(native, "predict_proba") else None
            return ModelFunctions(predict=native.predict, predict_proba=proba)
        xgb = self.require("xgboost")

        def predict(data: Any) -> Any:
            return native.predict(xgb.DMatrix(data, enable_categorical=True))

        return ModelFunctions(predict=predict)

    def device(self, obj: Any) -> Device:
        if type(obj).__name__ == "Booster":
            return "cpu"
        device = str(obj.get_params().get("device") or "cpu")
        return "gpu" if device.startswith(("cuda", "gpu")) else "cpu"
