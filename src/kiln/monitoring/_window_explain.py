"""Global importance of the model that answered a window, on that window's rows.

With ``MonitorSpec.explain``, evaluating a window also asks which features
the model relied on for the traffic it actually served: the model version
that answered most of the window's rows is loaded from the registry and
explained on up to ``EXPLAIN_ROWS`` of them — mean |SHAP| (TreeSHAP) for a
tree model when the ``shap`` extra is installed, otherwise permutation
importance once labels exist. A window where neither applies records why.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import KilnError

__all__ = ["EXPLAIN_ROWS", "explain_window"]

#: Rows of a window an explanation reads at most (a seeded sample).
EXPLAIN_ROWS = 500
MODEL = "_model"
VERSION = "_version"


def _answering_model(table: pa.Table) -> str | None:
    if MODEL not in table.column_names or VERSION not in table.column_names:
        return None
    pairs = Counter(
        zip(table[MODEL].to_pylist(), table[VERSION].to_pylist(), strict=True)
    ).most_common()
    for (name, version), _ in pairs:
        if name and version is not None:
            return f"models:/{name}/{version}"
    return None


def _importance(found: Any, method: str, uri: str, rows: int) -> dict[str, Any]:
    return {
        "method": method,
        "model": uri,
        "rows": rows,
        "importance": [
            {"feature": feature, "value": float(mean), "std": float(std)}
            for feature, mean, std in zip(found.features, found.mean, found.std, strict=True)
        ],
    }


def explain_window(
    table: pa.Table, features: list[str], label: str, *, seed: int = 0
) -> dict[str, Any]:
    """The window's global importance, or ``{"skipped": why}``."""
    from kiln import registry
    from kiln.explain import mean_abs_shap, permutation_importance, supports_tree_shap

    uri = _answering_model(table)
    if uri is None:
        return {"skipped": "no registered model version answered this window"}
    columns = [name for name in features if name in table.column_names]
    if not columns or table.num_rows == 0:
        return {"skipped": "no feature columns in this window"}
    sample = table
    if table.num_rows > EXPLAIN_ROWS:
        import numpy as np

        picked = np.random.default_rng(seed).choice(table.num_rows, EXPLAIN_ROWS, replace=False)
        sample = table.take(pa.array(np.sort(picked)))
    frame = sample.select(columns).to_pandas()
    try:
        predictor = registry.load_model(uri)
        native = getattr(predictor, "native", None)
        if native is not None and supports_tree_shap(native):
            return _importance(mean_abs_shap(native, frame), "tree_shap", uri, len(frame))
        if label in sample.column_names and sample[label].null_count < sample.num_rows:
            labelled = sample.filter(pc.is_valid(sample[label]))
            y = labelled[label].to_numpy(zero_copy_only=False)
            x = labelled.select(columns).to_pandas()
            found = permutation_importance(predictor.predict, x, y, seed=seed)
            return _importance(found, "permutation", uri, len(x))
    except (KilnError, ValueError, TypeError) as error:
        # An explanation is extra evidence: its failure is recorded, not fatal to the window.
        message = error.args[0] if error.args else type(error).__name__
        return {"skipped": f"{uri} could not be explained: {message}", "model": uri}
    return {
        "skipped": f"{uri} is not a tree model (or shap is not installed) and no labels arrived",
        "model": uri,
    }
