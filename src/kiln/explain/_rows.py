"""``explain_rows``: per-prediction explanations for any model, choosing the method.

``method="auto"`` takes TreeSHAP when the model is a supported tree model
and shap is installed (exact, fast, no background needed), else exact
Shapley values when there are at most :data:`EXACT_MAX_FEATURES` features,
else the permutation-sampling estimate; both of those need background rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kiln.errors import InvalidInput
from kiln.explain._explanation import ShapExplanation
from kiln.explain._shap import (
    UnsupportedTree,
    import_shap,
    is_tree_model,
    supports_tree_shap,
    tree_explanation,
    unwrap,
)
from kiln.explain._shapley import EXACT_MAX_FEATURES, evaluations, exact, sampling
from kiln.explain._table import Table, as_table

__all__ = ["METHODS", "explain_rows"]

#: What ``method`` may be.
METHODS = ("auto", "tree", "exact", "sampling")


def _function(
    model: Any, model_method: str | None
) -> tuple[Callable[[Any], Any], str, tuple[str, ...]]:
    """What to explain (``model_method``, else ``predict_proba`` when the model has it, else
    ``predict``, else the callable itself), what its output is called, and the class names."""
    classes = getattr(getattr(model, "native", model), "classes_", None)
    names = () if classes is None else tuple(str(label) for label in classes)
    proba = getattr(model, "predict_proba", None)
    predict = getattr(model, "predict", None)
    if model_method is not None:
        chosen = proba if model_method == "predict_proba" else predict
        if not callable(chosen):
            raise InvalidInput(
                f"this {type(model).__name__} has no {model_method}", field="model_method"
            )
    if model_method in (None, "predict_proba") and callable(proba):
        return proba, "probability", names
    if callable(predict):
        return predict, "prediction", ()
    if callable(model):
        return model, "prediction", ()
    raise InvalidInput(
        f"model must be a callable or have predict or predict_proba, got {type(model).__name__}",
        field="model",
    )


def explain_rows(
    model_or_predict: Any,
    rows: Any,
    *,
    background: Any = None,
    method: str = "auto",
    columns: Sequence[str] | None = None,
    model_method: str | None = None,
    n_permutations: int = 64,
    seed: int = 0,
    max_evaluations: int | None = None,
) -> ShapExplanation:
    """Shapley values for each of ``rows``: base value, contributions, prediction.

    ``model_or_predict`` is a model object (or a Kiln ``Predictor``) or a
    callable. The model-agnostic methods explain ``model_method``
    (``"predict"`` or ``"predict_proba"``) when given, else ``predict_proba``
    when the model has one (one set of values per class), else ``predict``,
    else the callable. TreeSHAP explains the trees' raw output instead
    (``output`` says which), so naming ``model_method`` turns it off.
    ``rows`` and ``background`` are DataFrames, mappings of column → values
    or 2-D arrays (named by ``columns``), with the same columns.

    ``method``: ``"auto"`` (see the module docs), ``"tree"``, ``"exact"``
    (2^d coalitions; cost ``rows * 2^d * len(background)`` predictions) or
    ``"sampling"`` (``n_permutations`` orders, seeded by ``seed``). With
    ``max_evaluations``, a request that would cost more predictions than
    that is refused before any work.
    """
    if model_method not in (None, "predict", "predict_proba"):
        raise InvalidInput(
            f"model_method must be 'predict' or 'predict_proba', got {model_method!r}",
            field="model_method",
        )
    if method not in METHODS:
        raise InvalidInput(
            f"method must be one of {', '.join(METHODS)}, got {method!r}", field="method"
        )
    if method == "tree" and model_method is not None:
        raise InvalidInput(
            "TreeSHAP explains the trees' raw output, not a chosen model_method; leave "
            "model_method out, or use method='auto' with background= rows",
            field="model_method",
        )
    table = as_table(rows, columns=columns, what="rows")
    tree = method == "tree" or (
        method == "auto" and model_method is None and supports_tree_shap(model_or_predict)
    )
    if tree:
        try:
            return tree_explanation(_tree(model_or_predict), table)
        except UnsupportedTree:
            if method == "tree" or background is None:
                raise
    if background is None:
        raise InvalidInput(
            f"method {method!r} needs background rows for this model: pass background= (50 to "
            "100 typical rows, e.g. a sample of the training data); tree models need none "
            "when shap is installed (kiln-ml[shap])",
            field="background",
        )
    given = as_table(background, columns=columns, what="background")
    reference = table.aligned(given, "background")
    chosen = method if method in ("exact", "sampling") else _agnostic(table)
    _check_cost(chosen, table, reference, n_permutations, max_evaluations)
    f, output, names = _function(model_or_predict, model_method)
    if chosen == "exact":
        return exact(f, table, reference, output, names)
    return sampling(f, table, reference, output, names, n_permutations=n_permutations, seed=seed)


def _tree(model: Any) -> Any:
    native = unwrap(model)
    if not supports_tree_shap(native):
        if is_tree_model(native):
            import_shap()  # raises NotFound with the install hint
        raise InvalidInput(
            f"method 'tree' needs a tree model, not a {type(native).__name__}; use "
            "method='auto' with background= rows for any model",
            field="method",
        )
    return native


def _agnostic(table: Table) -> str:
    return "exact" if len(table.names) <= EXACT_MAX_FEATURES else "sampling"


def _check_cost(
    method: str, rows: Table, background: Table, n_permutations: int, limit: int | None
) -> None:
    if limit is None:
        return
    d, b = len(rows.names), background.n_rows
    cost = evaluations(method, rows.n_rows, d, b, n_permutations)
    if cost <= limit:
        return
    per_row = evaluations(method, 1, d, b, n_permutations)
    most = limit // per_row
    advice = (
        f"send at most {most} rows at a time" if most else "use fewer background rows or features"
    )
    raise InvalidInput(
        f"explaining {rows.n_rows} rows with {d} features by {method} Shapley values against "
        f"{b} background rows takes {cost:,} model evaluations, over the limit of {limit:,}; "
        f"{advice}",
        field="rows",
    )
