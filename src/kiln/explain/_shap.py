"""TreeSHAP through the optional ``shap`` package (``pip install 'kiln-ml[shap]'``).

TreeSHAP computes exact Shapley values of a tree ensemble from its own
structure, in time polynomial in the tree depth, with no background data:
the expectation over "missing" features is taken along the training data
each node saw (``feature_perturbation="tree_path_dependent"``, shap's
default). It explains the trees' raw output, which is a probability for
scikit-learn forests, a prediction for regressors, and the margin (e.g.
log-odds) for boosted classifiers; :class:`ShapExplanation.output` says
which. ``shap`` is imported on first use, and only here.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from kiln.errors import InvalidInput, NotFound
from kiln.explain._explanation import Importance, ShapExplanation, sorted_importance
from kiln.explain._table import Table, as_table

__all__ = [
    "TREE_MODELS",
    "UnsupportedTree",
    "import_shap",
    "is_tree_model",
    "mean_abs_shap",
    "shap_values",
    "supports_tree_shap",
    "tree_explanation",
    "unwrap",
]

#: Top-level package → the class names TreeSHAP is used for (a subclass counts too).
TREE_MODELS: dict[str, frozenset[str]] = {
    "sklearn": frozenset(
        {
            "DecisionTreeClassifier",
            "DecisionTreeRegressor",
            "ExtraTreeClassifier",
            "ExtraTreeRegressor",
            "ExtraTreesClassifier",
            "ExtraTreesRegressor",
            "GradientBoostingClassifier",
            "GradientBoostingRegressor",
            "HistGradientBoostingClassifier",
            "HistGradientBoostingRegressor",
            "RandomForestClassifier",
            "RandomForestRegressor",
        }
    ),
    "xgboost": frozenset(
        {"Booster", "XGBClassifier", "XGBRegressor", "XGBRFClassifier", "XGBRFRegressor"}
    ),
    "lightgbm": frozenset({"Booster", "LGBMClassifier", "LGBMRegressor"}),
}
#: scikit-learn losses whose raw output passes through a log link before it is a prediction.
_LOG_LINK_LOSSES = frozenset({"poisson", "gamma"})


class UnsupportedTree(InvalidInput):
    """A tree model of a kind or shape shap's TreeExplainer refuses (e.g. multi-class GBDT)."""


def is_tree_model(model: object) -> bool:
    """Whether ``model`` is one of :data:`TREE_MODELS` (checked by name: nothing is imported)."""
    for cls in type(model).__mro__:
        if cls.__name__ in TREE_MODELS.get(cls.__module__.split(".")[0], ()):
            return True
    return False


def unwrap(model: Any) -> Any:
    """The tree model inside a loaded Kiln ``Predictor`` (its ``native``), else ``model``."""
    if is_tree_model(model):
        return model
    native = getattr(model, "native", None)
    return native if native is not None and is_tree_model(native) else model


def _shap_installed() -> bool:
    found: Any = sys.modules.get("shap", False)
    if found is None:  # an import of shap was blocked (sys.modules["shap"] = None)
        return False
    return bool(found) or importlib.util.find_spec("shap") is not None


def supports_tree_shap(model: Any) -> bool:
    """Whether TreeSHAP applies: ``model`` (or a Predictor's native model) is a tree model
    of :data:`TREE_MODELS` and shap is installed. Imports nothing."""
    return is_tree_model(unwrap(model)) and _shap_installed()


def import_shap() -> Any:
    """The ``shap`` module, or ``NotFound`` saying which extra installs it."""
    try:
        with warnings.catch_warnings():
            # shap's plot colours call a matplotlib API that matplotlib marks as pending
            # deprecation; it concerns plotting, which Kiln never asks shap for.
            warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"shap\.")
            return importlib.import_module("shap")
    except ImportError as exc:
        raise NotFound(
            f"TreeSHAP needs the 'shap' package, which cannot be imported ({exc}); install "
            "kiln-ml[shap] to explain tree models with TreeSHAP, or pass background= rows "
            "to explain_rows for the model-agnostic method"
        ) from None


def _output_kind(tree_output: Any, model: Any) -> str:
    if tree_output == "probability":
        return "probability"
    classifier = hasattr(model, "classes_") or type(model).__name__.endswith("Classifier")
    identity = getattr(model, "loss", None) not in _LOG_LINK_LOSSES
    if tree_output in ("raw_value", "squared_error") and not classifier and identity:
        return "prediction"
    return "margin"


def _output_names(model: Any, outputs: int) -> tuple[str, ...]:
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) == outputs:
        return tuple(str(label) for label in classes)
    return tuple(str(k) for k in range(outputs))


def tree_explanation(model: Any, table: Table) -> ShapExplanation:
    """TreeSHAP values of ``model`` (already unwrapped) for the rows of ``table``."""
    shap = import_shap()
    data = table.build(list(table.columns))
    if table.kind == "mapping":
        import pandas as pd

        data = pd.DataFrame(data)
    try:
        explainer = shap.TreeExplainer(model)
    except ValueError as exc:  # shap's InvalidModelError is a ValueError
        raise UnsupportedTree(
            f"shap's TreeExplainer cannot explain this {type(model).__name__}: {exc}",
            field="model",
        ) from None
    with warnings.catch_warnings():
        # shap announces a change of output type for binary LightGBM models; the array we
        # normalise below is the same either way.
        warnings.filterwarnings(
            "ignore", message="LightGBM binary classifier with TreeExplainer", category=UserWarning
        )
        raw = explainer.shap_values(data)
    values = np.stack(raw, axis=-1) if isinstance(raw, list) else np.asarray(raw)
    values = values.astype(np.float64, copy=False)
    expected = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    rows = len(values)
    if values.ndim == 2:
        base = np.full(rows, expected[0])
        names: tuple[str, ...] = ()
    else:
        base = np.broadcast_to(expected, (rows, values.shape[2])).copy()
        names = _output_names(model, values.shape[2])
    return ShapExplanation(
        values=values,
        base_values=base,
        predictions=base + values.sum(axis=1),
        feature_names=table.names,
        method="tree",
        output=_output_kind(explainer.model.tree_output, model),
        output_names=names,
    )


def _tree_model(model: Any) -> Any:
    native = unwrap(model)
    if not is_tree_model(native):
        raise InvalidInput(
            f"TreeSHAP explains tree models (scikit-learn trees, forests and gradient boosting, "
            f"XGBoost, LightGBM), not a {type(native).__name__}; use "
            "explain_rows(model, rows, background=...) for any model",
            field="model",
        )
    return native


def shap_values(
    model: Any,
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    *,
    columns: Sequence[str] | None = None,
) -> ShapExplanation:
    """TreeSHAP values of a tree model for every row of ``X``.

    ``model`` is a fitted scikit-learn tree, forest or gradient-boosting
    model, an XGBoost or LightGBM model (wrapper or Booster), or a Kiln
    ``Predictor`` holding one. ``X`` is a DataFrame, a mapping of column →
    values, or a 2-D array whose ``columns`` you may name. Needs
    ``kiln-ml[shap]``.
    """
    native = _tree_model(model)
    return tree_explanation(native, as_table(X, columns=columns))


def mean_abs_shap(
    model: Any,
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    *,
    columns: Sequence[str] | None = None,
) -> Importance:
    """Global importance as the mean over rows of ``|SHAP value|`` (averaged over outputs)."""
    explanation = shap_values(model, X, columns=columns)
    strength = np.abs(explanation.values)
    if strength.ndim == 3:
        strength = strength.mean(axis=2)
    return sorted_importance(
        explanation.feature_names,
        strength.mean(axis=0),
        strength.std(axis=0),
        "mean_abs_shap",
        metric=explanation.output,
    )
