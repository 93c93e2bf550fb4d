"""An MLflow ``MLmodel`` file beside Kiln's manifest, so MLflow can load Kiln models.

Written for the flavors MLflow reads natively from Kiln's safe files; today
that is scikit-learn (MLflow reads skops files, with the trusted types Kiln
recorded). The file is part of the model folder, so the manifest hashes it
like every other file.
"""

from __future__ import annotations

import platform
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

MLMODEL = "MLmodel"


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _sklearn(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "python_function": {
            "loader_module": "mlflow.sklearn",
            "model_path": "model.skops",
            "predict_fn": "predict",
            "python_version": platform.python_version(),
        },
        "sklearn": {
            "code": None,
            "pickled_model": "model.skops",
            "serialization_format": "skops",
            "skops_trusted_types": list(options.get("untrusted_types") or []),
            "sklearn_version": _version("scikit-learn"),
        },
    }


_WRITERS = {"sklearn": _sklearn}


def write_mlmodel(folder: Path, flavor: str, options: Mapping[str, Any]) -> bool:
    """Write ``MLmodel`` for ``flavor`` when MLflow can read its files; return whether it did."""
    writer = _WRITERS.get(flavor)
    if writer is None:
        return False
    import yaml

    document = {
        "artifact_path": "model",
        "flavors": writer(options),
        "model_uuid": uuid.uuid4().hex,
        "utc_time_created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "kiln_manifest": "kiln-model.yaml",
    }
    (folder / MLMODEL).write_text(yaml.safe_dump(document, sort_keys=False), "utf-8")
    return True
