"""Model performance from predictions and the labels that arrive later.

Three entry points: :func:`classification_metrics` (accuracy, precision,
recall, F1, ROC AUC and, for binary scores, calibration),
:func:`regression_metrics` (MAE, RMSE, R², bias) and
:func:`metrics_over_time` (either of them per fixed, epoch-aligned window).
Every result is a frozen dataclass whose ``to_dict()`` is plain JSON.

Only NumPy is used: scikit-learn is not one of Kiln's core dependencies, so
the confusion matrix, the rank-based ROC AUC and the calibration bins are
computed here, and the tests hold every number to scikit-learn's.
docs/monitoring-performance.md gives the definitions and edge cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = [
    "CALIBRATION_BINS",
    "ClassMetrics",
    "ClassificationMetrics",
    "RegressionMetrics",
    "ReliabilityBin",
    "classification_metrics",
    "regression_metrics",
]

#: Equal-width bins on [0, 1] for the expected calibration error and the reliability curve.
CALIBRATION_BINS = 10

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
AnyArray = np.ndarray[Any, Any]


def plain(value: Any) -> Any:
    """``value`` as JSON: dataclasses and mappings to dicts (string keys), NaN and inf to None."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def as_1d(values: object, name: str) -> AnyArray:
    """``values`` as a non-empty 1-D array without missing values (None, NaN, NaT)."""
    array = np.asarray(values)
    if array.ndim != 1:
        if array.ndim == 0 or array.size != max(array.shape):
            raise InvalidInput(
                f"{name} must be one-dimensional, got shape {array.shape}", field=name
            )
        array = array.ravel()
    if array.size == 0:
        raise InvalidInput(f"{name} is empty; pass at least one value", field=name)
    if array.dtype.kind == "O":
        import pandas as pd

        missing = np.asarray(pd.isna(array), dtype=bool)
    elif array.dtype.kind in "fc":
        missing = np.isnan(array)
    elif array.dtype.kind in "mM":
        missing = np.isnat(array)
    else:
        return array
    if missing.any():
        raise InvalidInput(
            f"{name} holds {int(missing.sum())} missing values (None or NaN) of {array.size}; "
            "drop those rows first",
            field=name,
        )
    return array


def same_length(first: AnyArray, first_name: str, other: AnyArray, name: str) -> None:
    if other.shape[0] != first.shape[0]:
        raise InvalidInput(
            f"{name} has {other.shape[0]} rows but {first_name} has {first.shape[0]}; "
            "pass one entry per row",
            field=name,
        )


def _unique(values: AnyArray, name: str) -> AnyArray:
    try:
        return np.unique(values)
    except TypeError as exc:
        message = f"{name} mixes values that cannot be ordered: {exc}"
        raise InvalidInput(message, field=name) from exc


@dataclass(frozen=True)
class ClassMetrics:
    """One class, one-vs-rest; ``support`` is its count in ``y_true``."""

    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class ReliabilityBin:
    """One calibration bin ``(lower, upper]`` (the first also holds 0); means None when empty."""

    lower: float
    upper: float
    count: int
    mean_predicted: float | None
    fraction_positive: float | None


@dataclass(frozen=True)
class ClassificationMetrics:
    """Classification quality over ``n`` rows.

    ``kind`` is ``"binary"`` (precision, recall and F1 of ``positive``) or
    ``"multiclass"`` (their unweighted means over ``labels``; ``positive`` is
    None). ``roc_auc`` is None without ``y_score`` or when ``y_true`` holds a
    single class; ``brier``, ``ece`` and ``reliability`` are set for binary
    scores only.
    """

    n: int
    kind: Literal["binary", "multiclass"]
    labels: tuple[Any, ...]
    positive: Any
    accuracy: float
    precision: float
    recall: float
    f1: float
    roc_auc: float | None
    brier: float | None
    ece: float | None
    reliability: tuple[ReliabilityBin, ...] | None
    per_class: Mapping[Any, ClassMetrics]

    def to_dict(self) -> dict[str, Any]:
        return dict(plain(self))


@dataclass(frozen=True)
class RegressionMetrics:
    """Regression quality over ``n`` rows; ``mean_error`` is ``mean(y_pred - y_true)``.

    ``r2`` is None when ``y_true`` is constant (its variance is the denominator).
    """

    n: int
    mae: float
    rmse: float
    r2: float | None
    mean_error: float

    def to_dict(self) -> dict[str, Any]:
        return dict(plain(self))


@dataclass(frozen=True)
class _Encoded:
    """Validated classification input: labels as indices into ``labels``."""

    labels: AnyArray
    positive: Any
    true: IntArray
    pred: IntArray
    score: FloatArray | None

    def take(self, rows: IntArray) -> _Encoded:
        score = None if self.score is None else self.score[rows]
        return _Encoded(self.labels, self.positive, self.true[rows], self.pred[rows], score)


def _default_positive(labels: AnyArray) -> Any:
    if labels.dtype.kind in "biuf" and set(labels.tolist()) <= {0, 1}:
        return labels.dtype.type(1).item()
    return None


def _label_set(y_true: AnyArray, y_pred: AnyArray, labels: object) -> AnyArray:
    seen = _unique(np.concatenate([y_true, y_pred]), "y_pred")
    if labels is None:
        return seen
    given = as_1d(labels, "labels")
    if _unique(given, "labels").size != given.size:
        raise InvalidInput(f"labels has repeated values: {given.tolist()!r}", field="labels")
    unknown = seen[~np.isin(seen, given)]
    if unknown.size:
        raise InvalidInput(
            f"y_true or y_pred hold {unknown[:5].tolist()!r}, which labels does not list; "
            "add them to labels",
            field="labels",
        )
    return given


def _resolve_positive(labels: AnyArray, positive: Any) -> tuple[AnyArray, Any]:
    if labels.size > 2:
        if positive is not None:
            raise InvalidInput(
                f"positive applies to binary labels, but there are {labels.size} classes "
                f"{labels[:5].tolist()!r}; leave it out to get macro averages",
                field="positive",
            )
        return labels, None
    if positive is None:
        positive = _default_positive(labels)
        if positive is None:
            raise InvalidInput(
                f"the labels {labels.tolist()!r} are binary but not 0/1; "
                "pass positive= to say which one is the positive class",
                field="positive",
            )
    if positive not in labels.tolist():
        if labels.size == 2:
            raise InvalidInput(
                f"positive={positive!r} is not one of the labels {labels.tolist()!r}",
                field="positive",
            )
        labels = _unique(np.append(labels, positive), "positive")
    return labels, positive


def _index(values: AnyArray, labels: AnyArray) -> IntArray:
    order = np.argsort(labels, kind="stable")
    return order[np.searchsorted(labels[order], values)]


def _scores(y_score: object, n: int, n_labels: int, binary: bool) -> FloatArray:
    try:
        score = np.asarray(y_score, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"y_score must be numeric: {exc}", field="y_score") from exc
    expected: tuple[int, ...] = (n,) if binary else (n, n_labels)
    if score.shape != expected:
        what = "the positive class's probability, 1-D" if binary else "one column per label"
        raise InvalidInput(
            f"y_score has shape {score.shape}, expected {expected} ({what})", field="y_score"
        )
    if not np.all((score >= 0) & (score <= 1)):
        raise InvalidInput("y_score must hold probabilities in [0, 1] without NaN", field="y_score")
    return score


def _encode(
    y_true: object, y_pred: object, y_score: object, positive: Any, labels: object
) -> _Encoded:
    true = as_1d(y_true, "y_true")
    pred = as_1d(y_pred, "y_pred")
    same_length(true, "y_true", pred, "y_pred")
    label_set, positive = _resolve_positive(_label_set(true, pred, labels), positive)
    binary = label_set.size <= 2
    score = None if y_score is None else _scores(y_score, true.size, label_set.size, binary)
    return _Encoded(label_set, positive, _index(true, label_set), _index(pred, label_set), score)


def _average_ranks(x: FloatArray) -> FloatArray:
    """1-based ranks of ``x``, ties given their mean rank (as ``scipy.stats.rankdata``)."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inverse]


def _auc(positive: npt.NDArray[np.bool_], score: FloatArray) -> float | None:
    """ROC AUC as the Mann-Whitney statistic ``P(s+ > s-) + P(s+ = s-)/2``."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    rank_sum = float(_average_ranks(score)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _calibration(y: FloatArray, p: FloatArray) -> tuple[float, float, tuple[ReliabilityBin, ...]]:
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # Inner edges, side="left": bins are (lower, upper], as sklearn's calibration_curve.
    bins = np.searchsorted(edges[1:-1], p)
    count = np.bincount(bins, minlength=CALIBRATION_BINS)
    sum_p = np.bincount(bins, weights=p, minlength=CALIBRATION_BINS)
    sum_y = np.bincount(bins, weights=y, minlength=CALIBRATION_BINS)
    ece = float(np.abs(sum_y - sum_p).sum() / p.size)
    brier = float(np.mean((p - y) ** 2))
    curve = tuple(
        ReliabilityBin(
            float(edges[b]), float(edges[b + 1]), int(count[b]),
            float(sum_p[b] / count[b]) if count[b] else None,
            float(sum_y[b] / count[b]) if count[b] else None,
        )
        for b in range(CALIBRATION_BINS)
    )  # fmt: skip
    return brier, ece, curve


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def _classification(data: _Encoded) -> ClassificationMetrics:
    k = data.labels.size
    matrix = np.bincount(data.true * k + data.pred, minlength=k * k).reshape(k, k)
    tp = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    precision, recall = _ratio(tp, predicted), _ratio(tp, support)
    f1 = _ratio(2.0 * tp, support + predicted)
    labels = tuple(data.labels.tolist())
    per_class = {
        label: ClassMetrics(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i, label in enumerate(labels)
    }
    roc_auc = brier = ece = None
    curve = None
    if data.positive is not None:
        pos = labels.index(data.positive)
        chosen = (float(precision[pos]), float(recall[pos]), float(f1[pos]))
        if data.score is not None:
            is_pos = data.true == pos
            roc_auc = _auc(is_pos, data.score)
            brier, ece, curve = _calibration(is_pos.astype(np.float64), data.score)
    else:
        chosen = (float(precision.mean()), float(recall.mean()), float(f1.mean()))
        if data.score is not None:
            onehot = data.true[:, None] == np.arange(k)
            aucs = [_auc(onehot[:, c], data.score[:, c]) for c in range(k)]
            defined = [a for a in aucs if a is not None]
            roc_auc = float(np.mean(defined)) if defined else None
    return ClassificationMetrics(
        n=int(data.true.size),
        kind="binary" if data.positive is not None else "multiclass",
        labels=labels,
        positive=data.positive,
        accuracy=float(tp.sum() / data.true.size),
        precision=chosen[0],
        recall=chosen[1],
        f1=chosen[2],
        roc_auc=roc_auc,
        brier=brier,
        ece=ece,
        reliability=curve,
        per_class=per_class,
    )


def classification_metrics(
    y_true: object,
    y_pred: object,
    *,
    y_score: object = None,
    positive: Any = None,
    labels: object = None,
) -> ClassificationMetrics:
    """Accuracy, precision, recall, F1 and, with ``y_score``, ROC AUC and calibration.

    With at most two labels the task is binary: ``positive`` defaults to 1
    (or True) when the labels are a subset of {0, 1}, and must be given
    otherwise; ``y_score`` is then the positive class's probability. With
    more labels the scores are macro averages, ``positive`` must be None and
    ``y_score`` has one probability column per label, in ``labels``' order
    (sorted when ``labels`` is None). ``labels`` fixes the label set, so that
    a batch missing a class is still scored against all of them.
    """
    return _classification(_encode(y_true, y_pred, y_score, positive, labels))


def _float_column(values: object, name: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numeric: {exc}", field=name) from exc
    array = as_1d(array, name)
    if not np.all(np.isfinite(array)):
        raise InvalidInput(f"{name} holds infinite values; drop those rows first", field=name)
    return array


def _regression(true: FloatArray, pred: FloatArray) -> RegressionMetrics:
    error = pred - true
    centred = true - true.mean()
    total = float(np.dot(centred, centred))
    # A constant y_true: R^2 divides by zero. sklearn reports 1 or 0; we report None.
    r2 = 1.0 - float(np.dot(error, error)) / total if total > 0 else None
    return RegressionMetrics(
        n=int(true.size),
        mae=float(np.mean(np.abs(error))),
        rmse=float(np.sqrt(np.mean(error**2))),
        r2=r2,
        mean_error=float(np.mean(error)),
    )


def regression_metrics(y_true: object, y_pred: object) -> RegressionMetrics:
    """MAE, RMSE, R² and the mean error (bias: positive when predictions run high)."""
    true = _float_column(y_true, "y_true")
    pred = _float_column(y_pred, "y_pred")
    same_length(true, "y_true", pred, "y_pred")
    return _regression(true, pred)
