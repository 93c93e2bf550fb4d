"""Reading the model files of an MLflow model folder, one MLflow flavor at a time.

Each loader reads where ``mlflow.<flavor>.save_model`` writes (the paths come
from the ``MLmodel`` file, checked with the artifact store's path rules, so a
crafted ``../`` cannot leave the folder) and uses the library itself, never
``mlflow``. A loader decides whether its file is a pickle *before* opening it:

- ``sklearn``: ``skops`` is read with the trust rule below; ``pickle`` and
  ``cloudpickle`` need ``allow_pickle=True``.
- ``xgboost``: XGBoost's own format, for a fixed list of classes.
- ``lightgbm``: a ``Booster`` is LightGBM text; a scikit-learn wrapper is
  ``skops`` (trust rule) or a pickle (``allow_pickle=True``).
- ``onnx``: ONNX Runtime on the CPU.
- ``pytorch``: ``data/model.pth`` is a whole-model pickle (``allow_pickle=True``)
  unless it is a TorchScript archive; ``data/model.pt2`` (``torch.export``)
  unpickles parts of itself on load, so it needs ``allow_pickle=True`` too.
- ``python_function`` built from a ``PythonModel``: ``python_model.pkl`` is
  cloudpickle (``allow_pickle=True``); unpickling it imports ``mlflow``,
  because the class derives from ``mlflow.pyfunc.PythonModel``.

skops trust rule: Kiln trusts exactly the types skops trusts by default.
Every type ``skops.io.get_untrusted_types`` reports must be named by the
caller in ``trusted_types`` (all at once: the refusal lists them), or the
caller passes ``allow_pickle=True``, which trusts every type (it accepts
running the model's code anyway). The ``skops_trusted_types`` an ``MLmodel``
records are never taken as trust: they are written by whoever wrote the
folder (MLflow's own loader says the same), and skops itself warns that some
scikit-learn types (``sklearn.tree._tree.Tree``) are unsafe to rebuild from a
crafted file, so no prefix of types is trusted wholesale either.
"""

from __future__ import annotations

import importlib
import inspect
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.artifacts import safe_join
from kiln.errors import Conflict, InvalidInput, PermissionDenied
from kiln.models._flavor import ModelFunctions, get_flavor

__all__ = ["LOADERS", "LoadRequest", "Loaded"]

_XGBOOST_CLASSES = frozenset(
    {"Booster", "XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor"}
)
_PICKLES = ("pickle", "cloudpickle")
_COMPRESSIONS = {"gzip": "gzip", "bzip2": "bz2", "lzma": "lzma"}


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What a loader gets: the folder, the whole ``MLmodel`` and the caller's opt-ins."""

    folder: Path
    mlmodel: Mapping[str, Any]
    allow_pickle: bool
    trusted_types: frozenset[str]

    def conf(self, flavor: str) -> Mapping[str, Any]:
        found = self.mlmodel["flavors"].get(flavor)
        if not isinstance(found, dict):
            raise InvalidInput(f"MLmodel: the {flavor} flavor must be a mapping, got {found!r}")
        return found

    def file(self, value: Any, what: str) -> Path:
        """``value`` (a path from MLmodel) inside the folder; ``InvalidInput`` when unsafe."""
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"MLmodel: {what} must be a relative path, got {value!r}")
        return safe_join(self.folder, value.strip("/"))

    def require_pickle(self, flavor: str, stored_as: str, file: Path) -> None:
        """Refuse, before ``file`` is opened, unless the caller passed ``allow_pickle=True``."""
        if not self.allow_pickle:
            raise PermissionDenied(
                f"the MLflow {flavor} model at {str(self.folder)!r} is {stored_as} "
                f"({file.name}), and loading it runs whatever code the file contains; pass "
                "allow_pickle=True only if you trust whoever logged it",
                field="allow_pickle",
            )


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded native object, the Kiln flavor that calls it, and how its file was stored."""

    native: Any
    flavor: str
    serialization: str
    options: dict[str, Any] = field(default_factory=dict)
    functions: ModelFunctions | None = None

    def model_functions(self) -> ModelFunctions:
        if self.functions is not None:
            return self.functions
        return get_flavor(self.flavor).functions(self.native, self.options)


def _module(flavor: str, name: str) -> Any:
    return get_flavor(flavor).require(name)


def _skops(request: LoadRequest, path: Path, flavor: str) -> Any:
    sio = _module(flavor, "skops.io")
    found = [str(name) for name in sio.get_untrusted_types(file=path)]
    missing = [name for name in found if name not in request.trusted_types]
    if missing and not request.allow_pickle:
        recorded = set(request.conf(flavor).get("skops_trusted_types") or ())
        note = (
            " The MLmodel lists them in skops_trusted_types, but that list comes from the "
            "model's own files, so Kiln does not take it as trust."
            if recorded.intersection(missing)
            else ""
        )
        raise PermissionDenied(
            f"{path.name} contains the types {', '.join(missing)}, which skops does not trust "
            "by default: rebuilding them from a crafted file could run code or read memory it "
            f"should not.{note} If you trust whoever logged the model, pass "
            f"trusted_types={missing!r} to load_model (allow_pickle=True trusts every type)",
            field=missing[0],
        )
    return sio.load(path, trusted=found)


def _unpickle(path: Path, fmt: str, flavor: str, compression: Any = None) -> Any:
    if fmt == "cloudpickle":
        # Plain pickle reads cloudpickle's output; the functions it names live in cloudpickle.
        _module(flavor, "cloudpickle")
    opener: Callable[..., Any] = open
    if compression:
        if compression not in _COMPRESSIONS:
            raise InvalidInput(f"MLmodel: unknown compression {compression!r}")
        opener = importlib.import_module(_COMPRESSIONS[compression]).open
    with opener(path, "rb") as file:
        # The caller opted in with allow_pickle=True (checked before this is reached).
        return pickle.load(file)


def _sklearn(request: LoadRequest) -> Loaded:
    conf = request.conf("sklearn")
    fmt = conf.get("serialization_format") or "pickle"  # MLflow's default for old models
    path = request.file(conf.get("pickled_model"), "sklearn.pickled_model")
    if fmt == "skops":
        return Loaded(_skops(request, path, "sklearn"), "sklearn", "skops")
    if fmt not in _PICKLES:
        raise InvalidInput(f"MLmodel: unknown sklearn serialization_format {fmt!r}")
    request.require_pickle("sklearn", f"stored with {fmt}", path)
    return Loaded(_unpickle(path, fmt, "sklearn"), "sklearn", fmt)


def _xgboost(request: LoadRequest) -> Loaded:
    conf = request.conf("xgboost")
    path = request.file(conf.get("data"), "xgboost.data")
    module, _, name = str(conf.get("model_class") or "xgboost.core.Booster").rpartition(".")
    if module.split(".")[0] != "xgboost" or name not in _XGBOOST_CLASSES:
        raise InvalidInput(
            f"MLmodel: xgboost model_class {conf.get('model_class')!r} is not one of "
            f"{', '.join(sorted(_XGBOOST_CLASSES))}"
        )
    xgb = _module("xgboost", "xgboost")
    model = getattr(xgb, name)()
    model.load_model(str(path))
    fmt = str(conf.get("model_format") or path.suffix.lstrip("."))
    return Loaded(model, "xgboost", f"xgboost-{fmt}", {"model_class": name, "file": path.name})


def _lightgbm(request: LoadRequest) -> Loaded:
    conf = request.conf("lightgbm")
    path = request.file(conf.get("data"), "lightgbm.data")
    model_class = str(conf.get("model_class") or "lightgbm.basic.Booster")
    name = model_class.rpartition(".")[2]
    if model_class == "lightgbm.basic.Booster":
        lgb = _module("lightgbm", "lightgbm")
        booster = lgb.Booster(model_file=str(path))
        return Loaded(booster, "lightgbm", "lightgbm-text", {"model_class": name})
    fmt = conf.get("serialization_format") or "cloudpickle"  # MLflow's default for old models
    if fmt == "skops":
        native = _skops(request, path, "lightgbm")
    elif fmt in _PICKLES:
        request.require_pickle("lightgbm", f"stored with {fmt}", path)
        native = _unpickle(path, fmt, "lightgbm")
    else:
        raise InvalidInput(f"MLmodel: unknown lightgbm serialization_format {fmt!r}")
    return Loaded(native, "lightgbm", fmt, {"model_class": name})


def _onnx(request: LoadRequest) -> Loaded:
    conf = request.conf("onnx")
    path = request.file(conf.get("data") or "model.onnx", "onnx.data")
    ort = _module("onnx", "onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = [output.name for output in session.get_outputs()]
    proba = next((name for name in outputs[1:] if "probabilit" in name.lower()), None)
    return Loaded(session, "onnx", "onnx", {"probability_output": proba})


def _is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (it holds compiled code, not a pickled class)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in f"/{name}" for name in archive.namelist())


def _pytorch(request: LoadRequest) -> Loaded:
    conf = request.conf("pytorch")
    data = request.file(conf.get("model_data") or "data", "pytorch.model_data")
    pickled, exported = safe_join(data, "model.pth"), safe_join(data, "model.pt2")
    torch = _module("pytorch", "torch")
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        if pickled.is_file() and _is_torchscript(pickled):
            model, fmt = torch.jit.load(str(pickled), map_location="cpu"), "torchscript"
        elif pickled.is_file():
            request.require_pickle("pytorch", "a pickled torch.nn.Module", pickled)
            model = torch.load(str(pickled), map_location="cpu", weights_only=False)
            fmt = "torch-pickle"
        elif exported.is_file():
            request.require_pickle(
                "pytorch", "a torch.export archive (torch.export.load unpickles it)", exported
            )
            return Loaded(torch.export.load(str(exported)).module(), "pytorch", "torch-export")
        else:
            raise Conflict(
                f"the MLflow pytorch model at {str(request.folder)!r} has neither "
                f"{data.name}/model.pth nor {data.name}/model.pt2"
            )
    model.eval()
    return Loaded(model, "pytorch", fmt)


class PythonModelContext:
    """What MLflow hands ``PythonModel.load_context`` and ``predict``: artifacts and config."""

    def __init__(self, artifacts: dict[str, str], model_config: dict[str, Any]) -> None:
        self.artifacts = artifacts
        self.model_config = model_config


def _python_model(request: LoadRequest) -> Loaded:
    conf = request.conf("python_function")
    if conf.get("model_code_path"):
        raise InvalidInput(
            f"the MLflow model at {str(request.folder)!r} is a model from code: loading it "
            "runs its Python file, which Kiln does not do; load it with mlflow.pyfunc"
        )
    path = request.file(conf.get("python_model"), "python_function.python_model")
    request.require_pickle("python_function", "a PythonModel stored with cloudpickle", path)
    artifacts = conf.get("artifacts") or {}
    if not isinstance(artifacts, dict):
        raise InvalidInput("MLmodel: python_function.artifacts must be a mapping")
    context = PythonModelContext(
        {
            str(name): str(request.file((info or {}).get("path"), f"artifact {name}"))
            for name, info in artifacts.items()
        },
        dict(conf.get("config") or {}),
    )
    model = _unpickle(path, "cloudpickle", "python_function", conf.get("compression"))
    if callable(getattr(model, "load_context", None)):
        model.load_context(context)
    parameters = [name for name in inspect.signature(model.predict).parameters if name != "self"]
    # MLflow's rule: predict(context, model_input, ...) when it names a context or takes two.
    with_context = "context" in parameters or len([p for p in parameters if p != "params"]) == 2

    def predict(data: Any) -> Any:
        return model.predict(context, data) if with_context else model.predict(data)

    return Loaded(model, "python_function", "cloudpickle", functions=ModelFunctions(predict))


#: MLflow flavor → loader, in the order they are preferred when a folder has several.
LOADERS: dict[str, Callable[[LoadRequest], Loaded]] = {
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "onnx": _onnx,
    "pytorch": _pytorch,
    "python_function": _python_model,
}
