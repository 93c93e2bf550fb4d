"""Explanations: which features a model relies on, overall and for one prediction.

::

    permutation_importance(predict, X, y)  ──► Importance      _permutation.py: the drop in
                                                                score when a column is shuffled
    mean_abs_shap(model, X)                ──► Importance      _shap.py: mean |TreeSHAP value|
    shap_values(model, X)                  ──► ShapExplanation  _shap.py: TreeSHAP (kiln-ml[shap])
    explain_rows(model, rows, background=) ──► ShapExplanation  _rows.py: TreeSHAP for tree
                                                                models, else _shapley.py: exact
                                                                or sampled Shapley values

The algorithms are functions of a predict callable or a model object plus
data (``_table.py`` reads DataFrames, mappings of columns and 2-D arrays
alike), so the model server and monitoring both build on them; this
package imports no other part of Kiln but ``kiln.errors``. Importing it
imports neither NumPy nor shap; docs/explanations.md gives the definitions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.explain._explanation import Importance, ShapExplanation
    from kiln.explain._permutation import permutation_importance
    from kiln.explain._rows import explain_rows
    from kiln.explain._shap import mean_abs_shap, shap_values, supports_tree_shap

__all__ = [
    "Importance",
    "ShapExplanation",
    "explain_rows",
    "mean_abs_shap",
    "permutation_importance",
    "shap_values",
    "supports_tree_shap",
]

_HOMES = {
    "Importance": "kiln.explain._explanation",
    "ShapExplanation": "kiln.explain._explanation",
    "explain_rows": "kiln.explain._rows",
    "mean_abs_shap": "kiln.explain._shap",
    "permutation_importance": "kiln.explain._permutation",
    "shap_values": "kiln.explain._shap",
    "supports_tree_shap": "kiln.explain._shap",
}


def __getattr__(name: str) -> Any:
    """Import the explainers on first use, so ``import kiln.explain`` stays light."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kiln.explain' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
