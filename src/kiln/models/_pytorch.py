"""The ``pytorch`` flavor: ``torch.nn.Module`` as TorchScript, or a state_dict plus code.

Two formats, chosen with ``flavor_options={"format": ...}``:

- ``torchscript`` (default): ``torch.jit.script`` the module (a ScriptModule
  is kept as it is), falling back to ``torch.jit.trace`` on the input
  example when scripting fails; ``torch.jit.save`` writes ``model.pt``.
  Loading needs no Python code of the model's.
- ``state_dict``: ``torch.save(module.state_dict())`` writes
  ``state_dict.pt``; the manifest records a code reference
  ``"package.module:ClassName"`` (the module's class unless
  ``flavor_options["code"]`` names another) and ``init_kwargs`` (plain YAML
  values). Loading imports that class, refuses it unless it is a
  ``torch.nn.Module`` subclass, builds it with the keyword arguments and
  loads the weights with ``torch.load(weights_only=True)``, which unpickles
  tensors only.

Models load on the CPU in eval mode; ``predict`` runs under
``torch.inference_mode()`` and returns NumPy arrays. PyTorch 2.13 deprecates
``torch.jit``; Kiln silences that one warning around its own calls, since
the user has nothing to change in them (``state_dict`` avoids TorchScript).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kiln.errors import InvalidInput, PermissionDenied
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel

if TYPE_CHECKING:
    from kiln.models._manifest import Device, Manifest

__all__ = ["PyTorchFlavor"]

SCRIPT_FILE = "model.pt"
STATE_FILE = "state_dict.pt"
_FORMATS = ("torchscript", "state_dict")
_T = TypeVar("_T")


class PyTorchFlavor(Flavor):
    """Any ``torch.nn.Module``, including ScriptModules."""

    name = "pytorch"
    packages = ("torch", "numpy")
    extra = "torch"

    def detect(self, obj: object) -> bool:
        return any(
            cls.__module__ == "torch.nn.modules.module" and cls.__name__ == "Module"
            for cls in type(obj).__mro__
        )

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        torch = self.require("torch")
        fmt = options.get("format", "torchscript")
        if fmt == "torchscript":
            scripted = _quiet_jit(lambda: _script(torch, obj, input_example))
            _quiet_jit(lambda: torch.jit.save(scripted, str(folder / SCRIPT_FILE)))
            return SavedModel(serialization="torchscript", options={"format": fmt})
        if fmt != "state_dict":
            raise InvalidInput(
                f"pytorch format must be one of {', '.join(_FORMATS)}, got {fmt!r}",
                field="flavor_options.format",
            )
        cls = type(obj)
        code = options.get("code") or f"{cls.__module__}:{cls.__qualname__}"
        if not isinstance(code, str) or code.startswith("__main__:") or "<locals>" in code:
            raise InvalidInput(
                f"the state_dict format needs the model class importable by name, got {code!r}; "
                "define the class in a module (not __main__ or a function) or pass "
                "flavor_options={'code': 'package.module:ClassName'}",
                field="flavor_options.code",
            )
        init_kwargs = dict(options.get("init_kwargs") or {})
        torch.save(obj.state_dict(), str(folder / STATE_FILE))
        return SavedModel(
            serialization="torch-state-dict",
            options={"format": fmt, "code": code, "init_kwargs": init_kwargs},
        )

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        torch = self.require("torch")
        options = manifest.flavor_options
        if options.get("format") == "state_dict":
            cls = _code_reference(torch, str(options.get("code")))
            kwargs = options.get("init_kwargs") or {}
            if not isinstance(kwargs, dict):
                raise InvalidInput(
                    f"the pytorch manifest's init_kwargs must be a mapping, got {kwargs!r}"
                )
            model = cls(**kwargs)
            state = torch.load(str(folder / STATE_FILE), map_location="cpu", weights_only=True)
            model.load_state_dict(state)
        else:
            model = _quiet_jit(
                lambda: torch.jit.load(str(folder / SCRIPT_FILE), map_location="cpu")
            )
        model.eval()
        return model

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        torch = self.require("torch")

        def predict(data: Any) -> Any:
            with torch.inference_mode():
                if isinstance(data, Mapping):
                    result = native(**{key: _tensor(torch, value) for key, value in data.items()})
                else:
                    result = native(_tensor(torch, data))
            return _to_numpy(torch, result)

        return ModelFunctions(predict=predict)

    def device(self, obj: Any) -> Device:
        return "gpu" if any(param.is_cuda for param in obj.parameters()) else "cpu"


def _quiet_jit(action: Callable[[], _T]) -> _T:
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"`torch\.jit\.\w+` is deprecated", category=DeprecationWarning
        )
        return action()


def _script(torch: Any, obj: Any, example: Any) -> Any:
    if isinstance(obj, torch.jit.ScriptModule):
        return obj
    try:
        return torch.jit.script(obj)
    except Exception as exc:  # TorchScript raises many kinds; tracing is the fallback
        if example is None:
            raise InvalidInput(
                f"torch.jit.script failed on {type(obj).__qualname__} ({exc}); pass input_example= "
                "so Kiln can trace it, or use flavor_options={'format': 'state_dict'}",
                field="flavor_options.format",
            ) from None
        was_training = obj.training
        obj.eval()
        try:
            return torch.jit.trace(obj, _tensor(torch, example))
        finally:
            obj.train(was_training)


def _code_reference(torch: Any, code: str) -> Any:
    module_name, _, qualname = code.partition(":")
    if not module_name or not qualname:
        raise InvalidInput(f"the pytorch code reference must be 'module:ClassName', got {code!r}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"the model class {code!r} cannot be imported ({exc}); install the code that defines "
            "it, in the same version it was saved with"
        ) from None
    if not (isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise PermissionDenied(
            f"the code reference {code!r} is not a torch.nn.Module subclass, "
            "so Kiln will not call it"
        )
    return target


def _tensor(torch: Any, data: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, pd.DataFrame | pd.Series):
        data = data.to_numpy()
    return torch.from_numpy(np.ascontiguousarray(data))


def _to_numpy(torch: Any, result: Any) -> Any:
    if isinstance(result, torch.Tensor):
        return result.detach().cpu().numpy()
    if isinstance(result, tuple | list):
        return type(result)(_to_numpy(torch, item) for item in result)
    if isinstance(result, Mapping):
        return {key: _to_numpy(torch, value) for key, value in result.items()}
    return result
