"""The ``onnx`` flavor: ONNX graphs, run with ONNX Runtime on the CPU.

The model is an ``onnx.ModelProto`` written with ``onnx.save_model``
(``model.onnx``); loading opens an ``onnxruntime.InferenceSession`` with the
CPU execution provider, which is also the native object. ``predict`` returns
the first output; ``predict_proba`` the output whose name says
``probabilities`` (as skl2onnx names it), or the one named in
``flavor_options={"probability_output": ...}``. skl2onnx's ZipMap output (a
list of dicts) is turned into an array; convert with
``options={"zipmap": False}`` to skip that per-row step.

Inputs are fed by name: one graph input takes the whole (enforced) array or
table; several take one DataFrame column or dict entry each, reshaped to
``(rows, 1)`` when the graph wants two dimensions. Values are cast to the
graph's element type (a float64 example for a float32 graph works).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel, type_modules

if TYPE_CHECKING:
    from kiln.models._manifest import Manifest

__all__ = ["OnnxFlavor"]

MODEL_FILE = "model.onnx"
_PROVIDERS = ["CPUExecutionProvider"]
# ONNX Runtime's tensor element types → NumPy dtypes.
_NUMPY_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int16)": "int16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
    "tensor(string)": "object",
}


class OnnxFlavor(Flavor):
    """An ``onnx.ModelProto``, served through ONNX Runtime."""

    name = "onnx"
    packages = ("onnx", "onnxruntime", "numpy")

    def detect(self, obj: object) -> bool:
        return "onnx" in type_modules(obj) and type(obj).__name__ == "ModelProto"

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        onnx = self.require("onnx")
        onnx.save_model(obj, str(folder / MODEL_FILE))
        outputs = [output.name for output in obj.graph.output]
        proba = options.get("probability_output")
        if proba is None:
            proba = next((name for name in outputs[1:] if "probabilit" in name.lower()), None)
        elif proba not in outputs:
            raise InvalidInput(
                f"probability_output {proba!r} is not an output of the graph; outputs: "
                f"{', '.join(outputs)}",
                field="flavor_options.probability_output",
            )
        return SavedModel(serialization="onnx", options={"probability_output": proba})

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        ort = self.require("onnxruntime")
        return ort.InferenceSession(str(folder / MODEL_FILE), providers=_PROVIDERS)

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        if type(native).__name__ == "ModelProto":  # at save time: open a session on the graph
            ort = self.require("onnxruntime")
            native = ort.InferenceSession(native.SerializeToString(), providers=_PROVIDERS)
        session = native
        inputs = session.get_inputs()
        label = session.get_outputs()[0].name
        proba_name = options.get("probability_output")

        def feed(data: Any) -> dict[str, Any]:
            return _feed(inputs, data)

        def predict(data: Any) -> Any:
            return session.run([label], feed(data))[0]

        def predict_proba(data: Any) -> Any:
            return _as_matrix(session.run([proba_name], feed(data))[0])

        return ModelFunctions(predict=predict, predict_proba=predict_proba if proba_name else None)


def _feed(inputs: list[Any], data: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    if len(inputs) == 1 and not isinstance(data, Mapping):
        values = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
        return {inputs[0].name: _typed(values, inputs[0])}
    if isinstance(data, pd.DataFrame):
        data = {str(name): data[name].to_numpy() for name in data.columns}
    if not isinstance(data, Mapping):
        names = ", ".join(spec.name for spec in inputs)
        raise InvalidInput(f"this ONNX graph has inputs {names}; send a DataFrame or a dict")
    fed = {}
    for spec in inputs:
        if spec.name not in data:
            raise InvalidInput(f"the ONNX graph input {spec.name!r} is missing", field=spec.name)
        values = np.asarray(data[spec.name])
        if values.ndim == 1 and len(spec.shape) == 2:
            values = values.reshape(-1, 1)
        fed[spec.name] = _typed(values, spec)
    return fed


def _typed(values: Any, spec: Any) -> Any:
    dtype = _NUMPY_TYPES.get(spec.type)
    if dtype is None or values.dtype == dtype:
        return values
    return values.astype(dtype)


def _as_matrix(result: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(result, list):  # ZipMap: one {label: probability} dict per row
        return pd.DataFrame.from_records(result).to_numpy()
    return np.asarray(result)
