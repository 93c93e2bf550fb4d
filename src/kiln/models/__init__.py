"""Kiln's model format: a folder of native model files plus ``kiln-model.yaml``.

::

    save_model(model, path, ...) ──► ModelInfo(path, manifest, manifest_sha256, files)
      │  _save.py     detect or pick the flavor, infer the signature from the input
      │               example, write into a temporary folder, hash every file, pin
      │               requirements, measure infra, write the manifest, rename into place
      ▼
    <path>/                             e.g. for scikit-learn:
      model.skops                       the flavor's own files (_sklearn.py, _xgboost.py,
      input_example.parquet             _lightgbm.py, _onnx.py, _pytorch.py, _pyfunc.py)
      │                                 first rows of the example (_example.py)
      kiln-model.yaml                   Manifest (_manifest.py): flavor, files + sha256,
      │                                 Signature (_signature.py; casts in _dtypes.py),
      │                                 requirements (_requirements.py), InfraNeeds (_infra.py)
      ▼
    load_model(path) ──► Predictor     _load.py: read the manifest, refuse pickles without
                         (or native)    allow_pickle, verify every sha256 (_files.py), load
                                        through the flavor; _predictor.py enforces the
                                        signature, then calls predict / predict_proba

Flavors (``_flavor.py``) are a small abstract class and a table of name →
``"module:Class"``, resolved lazily, extended through the ``kiln.flavors``
entry-point group. Importing this package imports no ML library; each
flavor imports its library when it first needs it.
"""

from __future__ import annotations

from kiln.models._example import read_input_example
from kiln.models._flavor import (
    ENTRY_POINT_GROUP,
    Flavor,
    ModelFunctions,
    SavedModel,
    get_flavor,
    known_flavors,
)
from kiln.models._load import load_model
from kiln.models._logging import LoggedModel, download_run_model, log_model, parse_runs_uri
from kiln.models._manifest import MANIFEST_NAME, FileEntry, InfraNeeds, Manifest, read_manifest
from kiln.models._predictor import Predictor
from kiln.models._save import ModelInfo, save_model
from kiln.models._signature import ColumnSpec, Signature, infer_signature

__all__ = [
    "ENTRY_POINT_GROUP",
    "MANIFEST_NAME",
    "ColumnSpec",
    "FileEntry",
    "Flavor",
    "InfraNeeds",
    "LoggedModel",
    "Manifest",
    "ModelFunctions",
    "ModelInfo",
    "Predictor",
    "SavedModel",
    "Signature",
    "download_run_model",
    "get_flavor",
    "infer_signature",
    "known_flavors",
    "load_model",
    "log_model",
    "parse_runs_uri",
    "read_input_example",
    "read_manifest",
    "save_model",
]
