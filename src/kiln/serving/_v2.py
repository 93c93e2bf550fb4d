"""The Open Inference Protocol (V2, KServe/Triton/MLServer) over REST: tensors ↔ columns.

An inference request is ``{"id"?, "parameters"?, "inputs": [tensor…],
"outputs"?: [{"name"}…]}`` where a tensor is ``{"name", "shape",
"datatype", "data"}`` (``data`` flat in row-major order or nested to the
shape). For a model with named columns each input tensor is one column
(shape ``[rows]`` or ``[rows, 1]``); for an array model the one tensor is
the array. Datatypes map onto NumPy: ``BOOL``, ``UINT8…64``, ``INT8…64``,
``FP16/32/64``, ``BYTES`` (text). Answers carry ``model_name``,
``model_version``, ``id`` and one output tensor per model output. Errors
are ``{"error": "<message>"}``, as the protocol says.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.serving._inputs import ARRAY, Rows, rows_from_columns

if TYPE_CHECKING:
    import numpy as np

    from kiln.models import ColumnSpec, Signature

__all__ = ["DATATYPES", "datatype_of", "infer_response", "model_metadata", "parse_infer"]

#: V2 datatype → NumPy dtype name ("object" for BYTES: Python strings).
DATATYPES = {
    "BOOL": "bool",
    "UINT8": "uint8",
    "UINT16": "uint16",
    "UINT32": "uint32",
    "UINT64": "uint64",
    "INT8": "int8",
    "INT16": "int16",
    "INT32": "int32",
    "INT64": "int64",
    "FP16": "float16",
    "FP32": "float32",
    "FP64": "float64",
    "BYTES": "object",
}
_BY_NUMPY = {numpy: v2 for v2, numpy in DATATYPES.items() if numpy != "object"}


def datatype_of(dtype: str) -> str:
    """The V2 datatype of a signature or NumPy dtype (text and anything else: ``BYTES``)."""
    return _BY_NUMPY.get(dtype, "BYTES")


def _tensor_array(tensor: Any, position: int) -> tuple[str, np.ndarray[Any, Any]]:
    import numpy as np

    where = f"inputs[{position}]"
    if not isinstance(tensor, dict):
        raise InvalidInput(f"{where} must be an object", field=where)
    name, shape, datatype = tensor.get("name"), tensor.get("shape"), tensor.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}.name must be a non-empty string", field=f"{where}.name")
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
    ):
        raise InvalidInput(
            f"{where}.shape must be a list of sizes >= 0, got {shape!r}", field=f"{where}.shape"
        )
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"{where}.datatype must be one of {', '.join(DATATYPES)}, got {datatype!r}",
            field=f"{where}.datatype",
        )
    data = tensor.get("data")
    if not isinstance(data, list):
        raise InvalidInput(f"{where}.data must be a list", field=f"{where}.data")
    try:
        array = np.asarray(data, dtype=DATATYPES[datatype] if datatype != "BYTES" else object)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"{where} ({name}): data is not {datatype}: {exc}", field=f"{where}.data"
        ) from None
    if datatype == "BYTES" and not all(isinstance(v, str) for v in array.reshape(-1)):
        raise InvalidInput(f"{where} ({name}): BYTES data must be strings", field=f"{where}.data")
    if datatype == "BOOL" and not all(isinstance(v, bool) for v in _flat(data)):
        raise InvalidInput(f"{where} ({name}): BOOL data must be true/false", field=f"{where}.data")
    if array.size != math.prod(shape):
        raise InvalidInput(
            f"{where} ({name}): shape {shape} holds {math.prod(shape)} values, data has "
            f"{array.size}",
            field=f"{where}.shape",
        )
    return name, array.reshape(shape)


def _flat(data: list[Any]) -> list[Any]:
    if data and isinstance(data[0], list):
        return [value for row in data for value in _flat(row)]
    return data


def parse_infer(body: Any, signature: Signature | None) -> tuple[Rows, dict[str, Any]]:
    """The rows of a V2 inference request, and its ``id``, ``parameters`` and ``outputs``."""
    if not isinstance(body, dict):
        raise InvalidInput("an inference request is a JSON object with 'inputs'", field="body")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors", field="inputs")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput("'id' must be a string", field="id")
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("'parameters' must be an object", field="parameters")
    tensors = dict(_tensor_array(tensor, i) for i, tensor in enumerate(inputs))
    if len(tensors) != len(inputs):
        raise InvalidInput("two input tensors have the same name", field="inputs")
    if signature is not None and signature.kind == "ndarray":
        if len(tensors) != 1:
            raise InvalidInput("this model takes exactly one input tensor", field="inputs")
        (array,) = tensors.values()
        rows = rows_from_columns({ARRAY: array}, signature, where="inputs")
    else:
        columns = {name: _column(name, array) for name, array in tensors.items()}
        rows = rows_from_columns(columns, signature, where="inputs")
    return rows, {"id": request_id, "parameters": parameters, "outputs": body.get("outputs")}


def _column(name: str, array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A named tensor as one column: ``[rows]`` or ``[rows, 1]``."""
    if array.ndim == 2 and array.shape[1] == 1:
        return array.reshape(-1)
    if array.ndim != 1:
        raise InvalidInput(
            f"input {name!r} is a column of this model: shape [rows] or [rows, 1], "
            f"got {list(array.shape)}",
            field=name,
        )
    if array.dtype.kind == "O":
        return array.astype(str)  # BYTES: text columns as NumPy strings, as JSON lists give
    return array


def _tensor(name: str, values: Any) -> dict[str, Any]:
    import numpy as np

    array = np.asarray(values)
    if array.dtype.kind in "OUS":
        return {
            "name": name,
            "shape": list(array.shape),
            "datatype": "BYTES",
            "data": [str(v) for v in array.reshape(-1)],
        }
    return {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype_of(array.dtype.name),
        "data": array.reshape(-1),
    }


def infer_response(
    model: str, version: str, request_id: str, outputs: dict[str, Any], wanted: Any = None
) -> dict[str, Any]:
    """The V2 answer: one tensor per output (those ``wanted`` names, when given)."""
    names = list(outputs)
    if isinstance(wanted, list) and wanted:
        asked = [item.get("name") for item in wanted if isinstance(item, dict)]
        unknown = [name for name in asked if name not in outputs]
        if unknown:
            raise InvalidInput(
                f"unknown output {unknown[0]!r}; this model gives {', '.join(names)}",
                field="outputs",
            )
        names = [name for name in names if name in asked]
    body: dict[str, Any] = {"model_name": model, "id": request_id}
    if version:
        body["model_version"] = version
    body["outputs"] = [_tensor(name, outputs[name]) for name in names]
    return body


def _metadata_tensor(spec: ColumnSpec, columns: bool) -> dict[str, Any]:
    shape = [-1] if columns else list(spec.shape)
    return {"name": spec.name, "datatype": datatype_of(spec.dtype), "shape": shape}


def model_metadata(
    name: str, versions: list[str], platform: str, signature: Signature | None, methods: Any
) -> dict[str, Any]:
    """``GET /v2/models/{name}``: inputs from the signature, one output per method.

    ``predict`` has the signature's output type (``FP64`` when it has none);
    ``predict_proba`` is ``FP64`` of shape ``[-1, -1]`` (rows by classes).
    """
    body: dict[str, Any] = {"name": name, "versions": versions, "platform": platform}
    if signature is None:
        body["inputs"] = []
    else:
        columns = signature.kind == "dataframe"
        body["inputs"] = [_metadata_tensor(spec, columns) for spec in signature.inputs]
    outputs = []
    for method in methods:
        if method == "predict_proba":
            outputs.append({"name": method, "datatype": "FP64", "shape": [-1, -1]})
        elif signature is not None and signature.outputs:
            spec = signature.outputs[0]
            outputs.append({"name": method, "datatype": datatype_of(spec.dtype), "shape": [-1]})
        else:
            outputs.append({"name": method, "datatype": "FP64", "shape": [-1]})
    body["outputs"] = outputs
    return body
