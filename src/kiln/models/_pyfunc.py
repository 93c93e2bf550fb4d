"""The ``python_function`` flavor: any object with ``predict``, pickled on request only.

Pickle can serialize almost anything, and loading a pickle runs whatever
code the file names, so this flavor needs ``allow_pickle=True`` both to save
and to load. cloudpickle is used when it is installed (it can serialize
classes and lambdas defined in ``__main__``), the standard library's pickle
otherwise; the manifest's ``serialization`` says which, and loading a
cloudpickle file needs cloudpickle installed.
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, PermissionDenied
from kiln.models._flavor import Flavor, ModelFunctions, SavedModel

if TYPE_CHECKING:
    from kiln.models._manifest import Manifest

__all__ = ["PythonFunctionFlavor"]

MODEL_FILE = "model.pkl"


class PythonFunctionFlavor(Flavor):
    """The catch-all: anything with a callable ``predict`` (and maybe ``predict_proba``)."""

    name = "python_function"
    packages = ("numpy", "cloudpickle")

    def detect(self, obj: object) -> bool:
        return callable(getattr(obj, "predict", None))

    def save(
        self,
        obj: Any,
        folder: Path,
        *,
        options: Mapping[str, Any],
        allow_pickle: bool,
        input_example: Any,
    ) -> SavedModel:
        if not callable(getattr(obj, "predict", None)):
            raise InvalidInput(
                f"a python_function model needs a predict method; {type(obj).__name__} has none",
                field="flavor",
            )
        if not allow_pickle:
            raise InvalidInput(
                f"saving a {type(obj).__qualname__} as python_function means pickling it, and "
                "loading a pickle runs code; pass allow_pickle=True to save it this way (loading "
                "will need allow_pickle=True too), or use a flavor with a safe format",
                field="allow_pickle",
            )
        try:
            pickler: Any = importlib.import_module("cloudpickle")
            serialization = "cloudpickle"
        except ImportError:
            pickler, serialization = pickle, "pickle"
        with (folder / MODEL_FILE).open("wb") as file:
            pickler.dump(obj, file, protocol=pickle.HIGHEST_PROTOCOL)
        return SavedModel(
            serialization=serialization,
            options={"class": f"{type(obj).__module__}.{type(obj).__qualname__}"},
        )

    def load(
        self, folder: Path, manifest: Manifest, *, allow_pickle: bool, trusted_types: frozenset[str]
    ) -> Any:
        if (
            not allow_pickle
        ):  # checked here as well as by load_model: this is the file that runs code
            raise PermissionDenied(
                "this python_function model is a pickle, and loading it runs code; pass "
                "allow_pickle=True only if you trust whoever saved it",
                field="allow_pickle",
            )
        if manifest.serialization == "cloudpickle":
            self.require("cloudpickle")
        with (folder / MODEL_FILE).open("rb") as file:
            # The opt-in is checked above; cloudpickle files are read by plain pickle.
            return pickle.load(file)

    def functions(self, native: Any, options: Mapping[str, Any]) -> ModelFunctions:
        proba = getattr(native, "predict_proba", None)
        return ModelFunctions(
            predict=native.predict, predict_proba=proba if callable(proba) else None
        )
