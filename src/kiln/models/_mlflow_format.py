"""MLflow's model format, read by Kiln: a folder with an ``MLmodel`` file and no manifest.

Models logged with the stock ``mlflow`` client (``mlflow.sklearn.log_model``
and friends) are folders holding an ``MLmodel`` YAML file that names the
flavors and where their files are. :func:`kiln.models.load_model` reads such
a folder when it has no ``kiln-model.yaml`` (a Kiln folder carries an
``MLmodel`` too, for MLflow's sake; the manifest wins there):

1. ``MLmodel`` is read with ``yaml.safe_load``, never MLflow's loader.
2. One flavor is picked, in the order of ``_mlflow_loaders.LOADERS``: the
   native flavors first, ``python_function`` only for a pickled
   ``PythonModel``. Anything else is refused, naming the flavors found.
3. The loader reads the files with the library itself, refusing pickles
   without ``allow_pickle=True`` before opening them (rules in
   ``_mlflow_loaders``).
4. A :class:`~kiln.models.Manifest` is built from ``MLmodel`` (no files, no
   hashes: MLflow records none) so the result is an ordinary
   :class:`~kiln.models.Predictor`, with MLflow's signature mapped onto
   Kiln's where every input has a type Kiln knows.

Integrity: an MLflow folder has no file hashes, so a folder loaded directly
is not verified. ``kiln.registry.load_model`` verifies each downloaded file
against the digest the artifact store recorded when it was uploaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput, KilnError, NotFound
from kiln.models._manifest import MANIFEST_NAME, InfraNeeds, Manifest
from kiln.models._predictor import Predictor
from kiln.models._signature import ColumnSpec, Signature, SignatureKind

if TYPE_CHECKING:
    from kiln.models._mlflow_loaders import Loaded

__all__ = [
    "MLMODEL_NAME",
    "is_mlflow_folder",
    "load_mlflow_model",
    "mlflow_signature",
    "read_mlmodel",
]

#: The file that makes a folder an MLflow model.
MLMODEL_NAME = "MLmodel"
#: Serializations whose loading ran a pickle (recorded as ``allow_pickle`` in the manifest view).
_PICKLED = frozenset({"pickle", "cloudpickle", "torch-pickle", "torch-export"})
# MLflow's column types → Kiln's signature dtypes.
_COLUMN_TYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "string",
    "datetime": "datetime64[ns]",
}
_TENSOR_TYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    }
)


def _folder(path: str | Path) -> Path:
    location = Path(path)
    return location.parent if location.name == MLMODEL_NAME and location.is_file() else location


def is_mlflow_folder(path: str | Path) -> bool:
    """Whether ``path`` is an MLflow model folder (or its ``MLmodel``) without Kiln's manifest."""
    folder = _folder(path)
    return (folder / MLMODEL_NAME).is_file() and not (folder / MANIFEST_NAME).exists()


def read_mlmodel(path: str | Path) -> dict[str, Any]:
    """The parsed ``MLmodel`` of an MLflow model folder; ``InvalidInput`` when malformed."""
    import yaml

    file = _folder(path) / MLMODEL_NAME
    if not file.is_file():
        raise NotFound(f"{str(file.parent)!r} is not an MLflow model folder: it has no MLmodel")
    try:
        data = yaml.safe_load(file.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{str(file)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
        raise InvalidInput(f"{str(file)!r} has no 'flavors' mapping; it is not an MLflow model")
    if not data["flavors"]:
        raise InvalidInput(f"{str(file)!r} lists no flavors", field="flavor")
    return data


def _chosen_flavor(folder: Path, flavors: Mapping[str, Any]) -> str:
    from kiln.models._mlflow_loaders import LOADERS

    for name in LOADERS:
        conf = flavors.get(name)
        if not isinstance(conf, dict):
            continue
        if name == "python_function" and conf.get("loader_module") != "mlflow.pyfunc.model":
            continue  # the generic entry of a flavor Kiln does not read (transformers, ...)
        return name
    raise InvalidInput(
        f"the MLflow model at {str(folder)!r} has the flavors {', '.join(map(str, flavors))}, "
        "none of which Kiln reads; Kiln reads sklearn, xgboost, lightgbm, onnx, pytorch, and "
        "python_function models built from an mlflow.pyfunc.PythonModel",
        field="flavor",
    )


def _schema(text: Any, *, outputs: bool) -> tuple[SignatureKind, tuple[ColumnSpec, ...]] | None:
    """Kiln's kind and specs for one side of an MLflow signature; None when not mappable."""
    try:
        items = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        return None
    names = [item.get("name") for item in items]
    default = "output" if outputs else "input"
    if all(item.get("type") == "tensor" for item in items):
        specs = []
        for index, item in enumerate(items):
            spec = item.get("tensor-spec")
            shape = spec.get("shape") if isinstance(spec, dict) else None
            if not isinstance(spec, dict) or spec.get("dtype") not in _TENSOR_TYPES:
                return None
            if not isinstance(shape, list) or not all(
                isinstance(size, int) and not isinstance(size, bool) and size >= -1
                for size in shape
            ):
                return None
            name = names[index] if isinstance(names[index], str) else default
            specs.append(ColumnSpec(name, str(spec["dtype"]), tuple(shape)))
        if len(specs) == 1 and not isinstance(names[0], str):
            return "ndarray", tuple(specs)
        if not all(isinstance(name, str) for name in names):
            return None
        return "dict", tuple(specs)
    specs = []
    for index, item in enumerate(items):
        dtype = _COLUMN_TYPES.get(str(item.get("type")))
        name = names[index]
        if dtype is None or item.get("required") is False:
            return None
        if not isinstance(name, str):
            if not outputs:
                return None
            name = default if len(items) == 1 else f"{default}_{index}"
        specs.append(ColumnSpec(name, dtype, (-1,)))
    return "dataframe", tuple(specs)


def mlflow_signature(mlmodel: Mapping[str, Any]) -> Signature | None:
    """MLflow's ``signature`` as Kiln's, or None when an input is of a type Kiln does not map.

    Column inputs (``double``, ``long``, ``string``, ...) become a ``dataframe``
    signature; one unnamed tensor an ``ndarray`` one; named tensors a ``dict``
    one. Optional columns, arrays, objects and maps are not mapped: the
    model then has no signature and inputs pass through unchanged.
    """
    signature = mlmodel.get("signature")
    if not isinstance(signature, dict):
        return None
    inputs = _schema(signature.get("inputs"), outputs=False)
    if inputs is None:
        return None
    outputs = _schema(signature.get("outputs"), outputs=True)
    return Signature(
        inputs=inputs[1], outputs=() if outputs is None else outputs[1], kind=inputs[0]
    )


def _requirements(folder: Path) -> tuple[str, ...]:
    try:
        lines = (folder / "requirements.txt").read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return ()
    return tuple(
        line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", "-"))
    )


def _manifest(folder: Path, mlmodel: Mapping[str, Any], flavor: str, loaded: Loaded) -> Manifest:
    pyfunc = mlmodel["flavors"].get("python_function")
    python_version = pyfunc.get("python_version") if isinstance(pyfunc, dict) else None
    metadata: dict[str, Any] = {
        "format": "mlflow",
        "mlflow_flavor": flavor,
        "mlflow_flavors": [str(name) for name in mlmodel["flavors"]],
        "mlflow_version": str(mlmodel.get("mlflow_version") or ""),
        "model_id": mlmodel.get("model_id"),
        "model_uuid": mlmodel.get("model_uuid"),
        # MLflow records no hashes; kiln.registry.load_model verifies downloads itself.
        "files_verified": False,
    }
    if isinstance(mlmodel.get("metadata"), dict):
        metadata["mlflow_metadata"] = mlmodel["metadata"]
    return Manifest(
        flavor=loaded.flavor,
        serialization=loaded.serialization,
        files=(),
        requirements=_requirements(folder),
        python_version=str(python_version or ""),
        kiln_version="",
        created_at=str(mlmodel.get("utc_time_created") or ""),
        infra=InfraNeeds(),
        signature=mlflow_signature(mlmodel),
        flavor_options=loaded.options,
        allow_pickle=loaded.serialization in _PICKLED,
        metadata=metadata,
    )


def load_mlflow_model(
    path: str | Path,
    *,
    native: bool = False,
    allow_pickle: bool = False,
    trusted_types: frozenset[str] = frozenset(),
) -> Any:
    """The MLflow model in the folder ``path`` as a :class:`Predictor` (or the native object).

    Raises :class:`~kiln.errors.PermissionDenied` for a pickle without
    ``allow_pickle`` or an untrusted skops type, :class:`~kiln.errors.InvalidInput`
    for a flavor Kiln does not read (naming the flavors found) or a malformed
    ``MLmodel``, and :class:`~kiln.errors.Conflict` when the library cannot
    read the file (often a version mismatch: see the folder's requirements.txt).
    """
    from kiln.models._mlflow_loaders import LOADERS, LoadRequest

    folder = _folder(path)
    mlmodel = read_mlmodel(folder)
    flavor = _chosen_flavor(folder, mlmodel["flavors"])
    request = LoadRequest(folder, mlmodel, allow_pickle, trusted_types)
    try:
        loaded = LOADERS[flavor](request)
        functions = loaded.model_functions()
    except KilnError:
        raise
    except Exception as exc:
        requirements = ", ".join(_requirements(folder)) or "none recorded"
        raise Conflict(
            f"the MLflow {flavor} model at {str(folder)!r} cannot be loaded "
            f"({type(exc).__name__}: {exc}); check the installed packages against the "
            f"model's requirements.txt: {requirements}"
        ) from exc
    if native:
        return loaded.native
    return Predictor(loaded.native, functions, _manifest(folder, mlmodel, flavor, loaded))
