"""Permutation importance: how much a model's score drops when one column is shuffled.

Model-agnostic: it needs only a predict callable, the rows and the true
labels. Shuffling a column breaks its link to the target while keeping its
distribution, so the drop in score is what the model loses without it.
All repeats of one column go to the model in one call (the rows stacked
``n_repeats`` times), and scores are computed for every repeat at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kiln.errors import InvalidInput
from kiln.explain._explanation import Importance, sorted_importance
from kiln.explain._table import FloatArray, as_table

__all__ = ["permutation_importance"]

#: The most rows stacked into one predict call; more repeats go in several calls.
MAX_STACKED_ROWS = 1 << 18
Metric = Callable[[Any, Any], float]


def permutation_importance(
    predict: Any,
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    y: Any,
    *,
    metric: str | Metric = "auto",
    n_repeats: int = 5,
    seed: int = 0,
    columns: Sequence[str] | None = None,
) -> Importance:
    """Each column's drop in score when it is shuffled, mean and std over ``n_repeats``.

    ``predict`` is a callable or an object with ``predict``; it receives rows
    in the form of ``X`` (a DataFrame, a mapping of column → values, or a
    2-D array whose ``columns`` are named by ``columns``). ``metric`` is
    ``"accuracy"``, ``"r2"``, a callable ``metric(y_true, y_pred) -> float``
    where higher is better, or ``"auto"``: accuracy when ``y`` holds labels
    (integers, booleans, text or categories) and R² when it holds floats.
    A positive importance means the model relies on the column; about zero,
    that it does not; negative, that the column only adds noise.
    """
    function = _predict_function(predict)
    table = as_table(X, columns=columns)
    labels = _labels(y, table.n_rows)
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise InvalidInput(
            f"n_repeats must be a whole number >= 1, got {n_repeats!r}", field="n_repeats"
        )
    name, score = _scorer(metric, labels)
    n = table.n_rows
    baseline = float(score(_predictions(function, table.build(list(table.columns)), n, 1))[0])
    rng = np.random.default_rng(seed)
    drops = np.empty((n_repeats, len(table.names)))
    per_call = max(1, MAX_STACKED_ROWS // n)
    for start in range(0, n_repeats, per_call):
        repeats = min(per_call, n_repeats - start)
        tiled = [np.tile(column, repeats) for column in table.columns]
        for j, column in enumerate(table.columns):
            shuffled = np.argsort(rng.random((repeats, n)), axis=1)
            stacked = [*tiled[:j], column[shuffled.ravel()], *tiled[j + 1 :]]
            predictions = _predictions(function, table.build(stacked), n, repeats)
            drops[start : start + repeats, j] = baseline - score(predictions)
    return sorted_importance(
        table.names,
        drops.mean(axis=0),
        drops.std(axis=0),
        "permutation",
        metric=name,
        baseline=baseline,
        values=drops,
    )


def _predict_function(predict: Any) -> Callable[[Any], Any]:
    method = getattr(predict, "predict", None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    if callable(predict):
        return predict  # type: ignore[no-any-return]
    raise InvalidInput(
        "predict must be a callable or a model with a predict method, "
        f"got {type(predict).__name__}",
        field="predict",
    )


def _labels(y: Any, rows: int) -> np.ndarray[Any, Any]:
    import pandas as pd

    values = y.to_numpy() if isinstance(y, pd.Series | pd.Index) else np.asarray(y)
    if values.ndim != 1 or len(values) != rows:
        raise InvalidInput(
            f"y must hold one value per row of X ({rows}), got shape {values.shape}", field="y"
        )
    return values


def _predictions(function: Callable[[Any], Any], data: Any, n: int, repeats: int) -> Any:
    """The model's answer for ``repeats`` stacked copies of ``n`` rows, shaped (repeats, n, …)."""
    import pandas as pd

    result = function(data)
    framed = isinstance(result, pd.DataFrame | pd.Series)
    array = result.to_numpy() if framed else np.asarray(result)
    if array.ndim == 0 or array.shape[0] != n * repeats:
        raise InvalidInput(
            f"predict returned shape {array.shape} for {n * repeats} rows; it must return one "
            "prediction per row",
            field="predict",
        )
    return array.reshape(repeats, n, *array.shape[1:])


def _scorer(metric: str | Metric, y: np.ndarray[Any, Any]) -> tuple[str, Any]:
    """The metric's name and a function of (repeats, n) predictions → one score per repeat."""
    if callable(metric):
        name = getattr(metric, "__name__", type(metric).__name__)
        given = metric

        def custom(predictions: Any) -> FloatArray:
            return np.asarray([float(given(y, p)) for p in predictions])

        return name, custom
    if metric == "auto":
        metric = "r2" if y.dtype.kind == "f" else "accuracy"
    if metric == "accuracy":

        def accuracy(predictions: Any) -> FloatArray:
            _one_per_row(predictions, "accuracy")
            return np.asarray(np.mean(predictions == y[None, :], axis=1), dtype=np.float64)

        return "accuracy", accuracy
    if metric == "r2":
        if y.dtype.kind not in "biuf":
            raise InvalidInput(f"metric 'r2' needs numeric y, got {y.dtype}", field="y")
        total = float(np.sum((y - y.mean()) ** 2))
        if total == 0:
            raise InvalidInput(
                "y is constant, so R² is undefined; pass metric='accuracy' or a callable",
                field="y",
            )

        def r2(predictions: Any) -> FloatArray:
            _one_per_row(predictions, "r2")
            residual = np.sum((predictions.astype(np.float64) - y[None, :]) ** 2, axis=1)
            return np.asarray(1.0 - residual / total, dtype=np.float64)

        return "r2", r2
    raise InvalidInput(
        f"metric must be 'auto', 'accuracy', 'r2' or a callable, got {metric!r}", field="metric"
    )


def _one_per_row(predictions: Any, name: str) -> None:
    if predictions.ndim != 2:
        raise InvalidInput(
            f"metric {name!r} needs one prediction per row, but predict returned "
            f"{predictions.shape[2:]} values per row; pass a callable metric for those",
            field="metric",
        )
