"""Input examples: the first rows of what the model was given, stored beside it.

A DataFrame is written as Parquet (``input_example.parquet``, dtypes kept);
an array or a dict of arrays as JSON (``input_example.json``, with each
array's dtype and shape). Only the first :data:`EXAMPLE_ROWS` rows are kept:
the example documents the input and feeds the serving docs, it is not data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiln.errors import InvalidInput, NotFound
from kiln.models._manifest import read_manifest

__all__ = ["EXAMPLE_ROWS", "as_example", "read_input_example", "write_input_example"]

#: Rows of the input example stored with a model.
EXAMPLE_ROWS = 100
_PARQUET = "input_example.parquet"
_JSON = "input_example.json"


def as_example(example: Any) -> Any:
    """``example`` as a DataFrame, a dict of arrays or an array (tensors, lists: arrays)."""
    import numpy as np
    import pandas as pd

    if isinstance(example, pd.Series):
        return example.to_frame()
    if isinstance(example, pd.DataFrame):
        return example
    if isinstance(example, Mapping):
        return {key: _array(value) for key, value in example.items()}
    if isinstance(example, np.ndarray):
        return example
    return _array(example)


def _array(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def write_input_example(example: Any, folder: Path) -> str:
    """Write the first rows of ``example`` into ``folder``; the file's relative path."""
    import pandas as pd

    if isinstance(example, pd.DataFrame):
        try:
            example.head(EXAMPLE_ROWS).to_parquet(folder / _PARQUET, index=False)
        except (TypeError, ValueError) as exc:  # pyarrow's errors derive from these
            raise InvalidInput(
                f"the input example cannot be stored as Parquet ({exc}); give each column one type",
                field="input_example",
            ) from None
        return _PARQUET
    if isinstance(example, Mapping):
        document: dict[str, Any] = {
            "kind": "dict",
            "arrays": {name: _encode(value) for name, value in example.items()},
        }
    else:
        document = {"kind": "ndarray", "array": _encode(example)}
    (folder / _JSON).write_text(json.dumps(document, default=str), "utf-8")
    return _JSON


def _encode(array: Any) -> dict[str, Any]:
    head = array[:EXAMPLE_ROWS]
    return {"dtype": str(head.dtype), "shape": list(head.shape), "data": head.tolist()}


def _decode(encoded: Mapping[str, Any]) -> Any:
    import numpy as np

    return np.asarray(encoded["data"], dtype=encoded["dtype"]).reshape(encoded["shape"])


def read_input_example(path: str | Path) -> Any:
    """The input example stored in the model folder ``path``; ``NotFound`` when it has none."""
    import pandas as pd

    folder = Path(path)
    manifest = read_manifest(folder)
    if manifest.input_example is None:
        raise NotFound(f"the model at {str(folder)!r} was saved without an input example")
    file = folder / manifest.input_example
    if file.suffix == ".parquet":
        return pd.read_parquet(file)
    document = json.loads(file.read_text("utf-8"))
    if document.get("kind") == "dict":
        return {name: _decode(value) for name, value in document["arrays"].items()}
    return _decode(document["array"])
