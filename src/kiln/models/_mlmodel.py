"""An MLflow ``MLmodel`` file beside Kiln's manifest, so MLflow can load Kiln models.

Each writer points MLflow's own loaders (the native flavor and
``python_function``) at the file Kiln already wrote; nothing is copied or
written twice. What MLflow then loads:

- ``sklearn``: the skops file, with the trusted types Kiln recorded.
- ``xgboost``: ``model.ubj``/``model.json`` into the saved class (a
  ``Booster`` or the scikit-learn wrapper).
- ``lightgbm``: ``model.txt`` as a ``lightgbm.Booster``, as ``load_model(...,
  native=True)`` does. A classifier's booster predicts probabilities where the
  wrapper predicted labels, so a classifier gets no ``python_function``:
  ``mlflow.pyfunc`` refuses it rather than answer differently.
- ``onnx``: ``model.onnx``, run with ONNX Runtime on the CPU.
- ``pytorch``: the TorchScript ``model.pt``; ``torch.load`` hands a TorchScript
  archive to ``torch.jit.load``, which Kiln also uses, when given
  ``weights_only=False`` (MLflow's pyfunc passes it; a caller of
  ``mlflow.pytorch.load_model`` must). The ``state_dict`` format gets no
  ``MLmodel``: MLflow rebuilds a module only from a pickled module or a
  ``torch.export`` archive, and has no way to import Kiln's code reference.

The file is part of the model folder, so the manifest hashes it like every
other file. A Kiln signature is translated when MLflow has the same types;
otherwise ``MLmodel`` has none, and MLflow checks nothing rather than the wrong
thing.
"""

from __future__ import annotations

import json
import platform
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.models._signature import ColumnSpec, Signature

__all__ = ["MLMODEL", "to_mlflow_signature", "write_mlmodel"]

MLMODEL = "MLmodel"
# Kiln dtype names → MLflow column types; a column of any other dtype has no MLflow twin.
_COLUMN_TYPES = {
    "bool": "boolean",
    "int32": "integer",
    "int64": "long",
    "float32": "float",
    "float64": "double",
    "string": "string",
    "datetime64[ns]": "datetime",
}
# NumPy dtypes an MLflow tensor spec may hold and Kiln's signatures may name.
_TENSOR_TYPES = frozenset(
    {"bool", "float16", "float32", "float64"}
    | {f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)}
)

Flavors = dict[str, dict[str, Any]]


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _pyfunc(loader_module: str, **conf: Any) -> dict[str, Any]:
    return {"loader_module": loader_module, **conf, "python_version": platform.python_version()}


def _sklearn(options: Mapping[str, Any]) -> Flavors:
    from kiln.models._sklearn import MODEL_FILE as SKOPS_FILE

    return {
        "python_function": _pyfunc("mlflow.sklearn", model_path=SKOPS_FILE, predict_fn="predict"),
        "sklearn": {
            "code": None,
            "pickled_model": SKOPS_FILE,
            "serialization_format": "skops",
            "skops_trusted_types": list(options.get("untrusted_types") or []),
            "sklearn_version": _version("scikit-learn"),
        },
    }


def _xgboost(options: Mapping[str, Any]) -> Flavors:
    file, class_name = str(options["file"]), str(options["model_class"])
    # MLflow imports the class by its full name; the wrappers all live in xgboost.sklearn.
    module = "xgboost.core" if class_name == "Booster" else "xgboost.sklearn"
    return {
        "python_function": _pyfunc("mlflow.xgboost", data=file),
        "xgboost": {
            "code": None,
            "data": file,
            "model_class": f"{module}.{class_name}",
            "model_format": file.rpartition(".")[2],
            "xgb_version": _version("xgboost"),
        },
    }


def _lightgbm(options: Mapping[str, Any]) -> Flavors:
    from kiln.models._lightgbm import MODEL_FILE as LIGHTGBM_FILE

    native = {
        "code": None,
        "data": LIGHTGBM_FILE,
        "model_class": "lightgbm.basic.Booster",
        "lgb_version": _version("lightgbm"),
    }
    if options.get("classes") is not None:  # a classifier: its booster predicts probabilities
        return {"lightgbm": native}
    return {"python_function": _pyfunc("mlflow.lightgbm", data=LIGHTGBM_FILE), "lightgbm": native}


def _onnx(options: Mapping[str, Any]) -> Flavors:
    from kiln.models._onnx import MODEL_FILE as ONNX_FILE

    return {
        "python_function": _pyfunc("mlflow.onnx", data=ONNX_FILE),
        "onnx": {
            "code": None,
            "data": ONNX_FILE,
            "onnx_version": _version("onnx"),
            "providers": ["CPUExecutionProvider"],  # what Kiln serves with
            "onnx_session_options": None,
        },
    }


def _pytorch(options: Mapping[str, Any]) -> Flavors | None:
    from kiln.models._pytorch import SCRIPT_FILE

    if options.get("format", "torchscript") != "torchscript":
        return None
    return {
        "python_function": _pyfunc("mlflow.pytorch", data=SCRIPT_FILE),
        "pytorch": {
            "code": None,
            "model_data": SCRIPT_FILE,
            "pytorch_version": _version("torch"),
        },
    }


_WRITERS: dict[str, Callable[[Mapping[str, Any]], Flavors | None]] = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "pytorch": _pytorch,
}


def write_mlmodel(
    folder: Path, flavor: str, options: Mapping[str, Any], signature: Signature | None = None
) -> bool:
    """Write ``MLmodel`` for ``flavor`` when MLflow can read its files; return whether it did."""
    writer = _WRITERS.get(flavor)
    flavors = None if writer is None else writer(options)
    if flavors is None:
        return False
    import yaml

    document: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": flavors,
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "kiln_manifest": "kiln-model.yaml",
    }
    # MLflow's ONNX pyfunc returns every graph output by name, not Kiln's first one.
    translated = to_mlflow_signature(signature, outputs=flavor != "onnx")
    if translated is not None:
        document["signature"] = translated
    (folder / MLMODEL).write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return True


def to_mlflow_signature(
    signature: Signature | None, *, outputs: bool = True
) -> dict[str, str | None] | None:
    """``signature`` in MLmodel's form (JSON schemas), or ``None`` when MLflow cannot say it.

    A DataFrame signature becomes MLflow columns, an array or a dict of arrays
    tensors (named for a dict). MLflow checks inputs before every prediction,
    so inputs that do not translate leave the whole signature out; outputs
    only document, and are left out when they do not translate (or
    ``outputs=False``).
    """
    if signature is None:
        return None
    if signature.kind == "dataframe":
        inputs = _columns(signature.inputs)
    else:
        inputs = _tensors(signature.inputs, named=signature.kind == "dict")
    if inputs is None:
        return None
    returned = signature.outputs if outputs else ()
    translated = _columns(returned)
    if translated is None:
        translated = _tensors(returned, named=len(returned) > 1)
    return {
        "inputs": json.dumps(inputs),
        "outputs": json.dumps(translated) if translated else None,
        "params": None,
    }


def _columns(specs: tuple[ColumnSpec, ...]) -> list[dict[str, Any]] | None:
    if not all(spec.shape == (-1,) and spec.dtype in _COLUMN_TYPES for spec in specs):
        return None
    return [
        {"type": _COLUMN_TYPES[spec.dtype], "name": spec.name, "required": True} for spec in specs
    ]


def _tensors(specs: tuple[ColumnSpec, ...], *, named: bool) -> list[dict[str, Any]] | None:
    if not all(spec.dtype in _TENSOR_TYPES for spec in specs):
        return None
    return [
        {
            **({"name": spec.name} if named else {}),
            "type": "tensor",
            "tensor-spec": {"dtype": spec.dtype, "shape": list(spec.shape)},
        }
        for spec in specs
    ]
