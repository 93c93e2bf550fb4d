"""Confident learning: find the labels that are likely wrong (Northcutt, Jiang & Chuang, 2021).

Given each row's label and out-of-sample predicted probabilities (rows by
classes, from :func:`cross_validated_probabilities`):

1. :func:`confident_thresholds` — per class ``j``, the mean probability the
   model gives class ``j`` on rows labelled ``j`` (its self-confidence);
2. :func:`confident_joint` — a given-by-true-label table of counts: a
   row counts under true class ``j`` when ``p_j`` reaches ``j``'s threshold
   (the likeliest such class when several do); calibrated, its rows sum to
   the given label counts, and its off-diagonal cell ``(i, j)`` is the
   estimated number of rows labelled ``i`` whose true class is ``j``;
3. :func:`find_label_issues` — those estimates turned into rows: prune by
   noise rate (for each cell, the rows labelled ``i`` with the largest
   ``p_j - p_i``), by class (per given class, the lowest self-confidences),
   both, or the confident joint's own off-diagonal rows.

Rows the model itself predicts as their given label are never flagged. The
method and its defaults follow cleanlab's ``filter.find_label_issues``
(tests compare the two when cleanlab is installed); docs/labeling-quality.md
explains the one case where the true-class guess differs.
"""

from __future__ import annotations

from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = [
    "calibrate_confident_joint",
    "confident_joint",
    "confident_thresholds",
    "cross_validated_probabilities",
    "find_label_issues",
    "self_confidence",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Method = Literal["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
METHODS: tuple[str, ...] = ("prune_by_noise_rate", "prune_by_class", "both", "confident_learning")

#: Slack in "p reaches the threshold" and "the prediction is the given label" (float noise).
EPSILON = 1e-6


def _inputs(labels: npt.ArrayLike, pred_probs: npt.ArrayLike) -> tuple[IntArray, FloatArray]:
    try:
        proba = np.asarray(pred_probs, dtype=np.float64)
        given = np.asarray(labels)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"pred_probs must be numbers ({exc})", field="pred_probs") from exc
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise InvalidInput(
            f"pred_probs must be rows-by-classes with two classes or more, got shape {proba.shape}",
            field="pred_probs",
        )
    if not np.all(np.isfinite(proba)) or (proba.size and (proba.min() < 0 or proba.max() > 1)):
        raise InvalidInput("pred_probs must be probabilities in [0, 1]", field="pred_probs")
    if given.shape != (proba.shape[0],):
        raise InvalidInput(
            f"labels must give one label per row of pred_probs ({proba.shape[0]}), "
            f"got shape {given.shape}",
            field="labels",
        )
    if given.size == 0:
        raise InvalidInput("labels is empty; give at least one row", field="labels")
    classes = proba.shape[1]
    if given.dtype.kind not in "iu" or given.min() < 0 or given.max() >= classes:
        raise InvalidInput(
            f"labels must be class indices 0..{classes - 1} matching pred_probs' columns; "
            "encode them first (np.unique(y, return_inverse=True))",
            field="labels",
        )
    return given.astype(np.int64), proba


def self_confidence(labels: npt.ArrayLike, pred_probs: npt.ArrayLike) -> FloatArray:
    """``p[i, labels[i]]``: the probability the model gives each row's own label.

    The label-quality score issues are ranked by: lowest first is likeliest wrong.
    """
    given, proba = _inputs(labels, pred_probs)
    return proba[np.arange(given.size), given]


def confident_thresholds(labels: npt.ArrayLike, pred_probs: npt.ArrayLike) -> FloatArray:
    """Per class, the mean self-confidence of the rows labelled with it.

    A class nobody labelled gets 2, which no probability reaches, so no row is
    counted as truly belonging to it.
    """
    given, proba = _inputs(labels, pred_probs)
    return _thresholds(given, proba)


def _thresholds(given: IntArray, proba: FloatArray) -> FloatArray:
    classes = proba.shape[1]
    counts = np.bincount(given, minlength=classes)
    sums = np.bincount(given, weights=proba[np.arange(given.size), given], minlength=classes)
    thresholds = np.full(classes, 2.0)
    seen = counts > 0
    thresholds[seen] = sums[seen] / counts[seen]
    clipped: FloatArray = np.maximum(thresholds, 2 * EPSILON)
    return clipped


def _true_guess(given: IntArray, proba: FloatArray) -> tuple[IntArray, BoolArray]:
    """Each row's confidently-counted true class, and whether it has one at all.

    The guess is the likeliest class among those whose threshold the row
    reaches (the paper's definition).
    """
    reached = proba >= _thresholds(given, proba) - EPSILON
    counted: BoolArray = np.asarray(reached.any(axis=1), dtype=bool)
    guess: IntArray = np.where(reached, proba, -1.0).argmax(axis=1).astype(np.int64)
    return guess, counted


def confident_joint(
    labels: npt.ArrayLike, pred_probs: npt.ArrayLike, *, calibrate: bool = True
) -> IntArray:
    """The given-by-true-label counts of confidently-counted rows (see the module).

    Every diagonal cell is at least 1. ``calibrate=True`` rescales the rows to
    the given label counts (:func:`calibrate_confident_joint`), which makes the
    off-diagonal cells the estimated number of label issues per (given, true) pair.
    """
    given, proba = _inputs(labels, pred_probs)
    joint = _joint(given, proba)
    return _calibrate(joint, given) if calibrate else joint


def _joint(given: IntArray, proba: FloatArray) -> IntArray:
    classes = proba.shape[1]
    guess, counted = _true_guess(given, proba)
    cells = given[counted] * classes + guess[counted]
    joint = np.bincount(cells, minlength=classes * classes).reshape(classes, classes)
    np.fill_diagonal(joint, np.maximum(joint.diagonal(), 1))
    return joint.astype(np.int64)


def calibrate_confident_joint(joint: npt.ArrayLike, labels: npt.ArrayLike) -> IntArray:
    """Rescale each row of a confident joint to its given label's count, rounded to
    whole rows while keeping each row's total (largest remainders round up)."""
    table = np.asarray(joint, dtype=np.float64)
    given = np.asarray(labels)
    if table.ndim != 2 or table.shape[0] != table.shape[1]:
        raise InvalidInput(f"joint must be square, got shape {table.shape}", field="joint")
    if given.dtype.kind not in "iu" or given.size == 0 or given.min() < 0:
        raise InvalidInput("labels must be class indices 0..K-1", field="labels")
    if given.max() >= table.shape[0]:
        raise InvalidInput(
            f"labels go up to {given.max()} but joint has {table.shape[0]} classes", field="labels"
        )
    return _calibrate(table, given.astype(np.int64))


def _calibrate(joint: Any, given: IntArray) -> IntArray:
    table = np.asarray(joint, dtype=np.float64)
    counts = np.bincount(given, minlength=table.shape[0]).astype(np.float64)
    rows = np.maximum(table.sum(axis=1), 1e-100)
    scaled = table / rows[:, None] * counts[:, None]
    scaled = scaled / max(scaled.sum(), 1e-100) * counts.sum()
    return _round_rows(scaled)


def _round_rows(table: FloatArray) -> IntArray:
    """Round to integers, each row keeping its (rounded) total: the largest remainders go up.

    Equal remainders are common (equal counts scaled alike): the lower column
    wins a tie. cleanlab breaks the same ties with NumPy's unstable sort, so
    its calibrated joint can differ from ours by one in such cells.
    """
    floor = np.floor(table)
    short = (np.round(table.sum(axis=1)) - floor.sum(axis=1)).astype(np.int64)
    order = np.argsort(-(table - floor), axis=1, kind="stable")
    rank = np.argsort(order, axis=1, kind="stable")
    rounded: IntArray = (floor + (rank < short[:, None])).astype(np.int64)
    return rounded


def _prune_counts(calibrated: IntArray, counts: IntArray, frac_noise: float, keep: int) -> IntArray:
    """The off-diagonal counts to flag: scaled by ``frac_noise`` and capped so each
    given class keeps at least ``keep`` rows."""
    prune: IntArray = np.floor(calibrated * frac_noise).astype(np.int64)
    np.fill_diagonal(prune, 0)
    room = np.maximum(counts - keep, 0)
    total = prune.sum(axis=1)
    over = total > room
    if np.any(over):
        shrunk = np.floor(prune[over] * (room[over] / total[over])[:, None]).astype(np.int64)
        prune[over] = shrunk
    return prune


@overload
def find_label_issues(
    labels: npt.ArrayLike,
    pred_probs: npt.ArrayLike,
    *,
    method: Method = ...,
    frac_noise: float = ...,
    min_examples_per_class: int = ...,
    return_mask: Literal[False] = ...,
) -> IntArray: ...
@overload
def find_label_issues(
    labels: npt.ArrayLike,
    pred_probs: npt.ArrayLike,
    *,
    method: Method = ...,
    frac_noise: float = ...,
    min_examples_per_class: int = ...,
    return_mask: Literal[True],
) -> BoolArray: ...
def find_label_issues(
    labels: npt.ArrayLike,
    pred_probs: npt.ArrayLike,
    *,
    method: Method = "prune_by_noise_rate",
    frac_noise: float = 1.0,
    min_examples_per_class: int = 1,
    return_mask: bool = False,
) -> IntArray | BoolArray:
    """Rows whose given label is likely wrong, likeliest first (lowest self-confidence).

    ``pred_probs`` must be out-of-sample (cross-validated): a model that saw a
    row's label will have learned it. ``method`` chooses how the estimated
    issue counts become rows (see the module); ``frac_noise`` < 1 keeps only
    that share of the estimated issues, and no given class is pruned below
    ``min_examples_per_class`` rows (both apply to the pruning methods, not to
    ``confident_learning``). ``return_mask=True`` returns a boolean mask over
    the rows instead of the ranked indices.
    """
    given, proba = _inputs(labels, pred_probs)
    if method not in METHODS:
        raise InvalidInput(
            f"method must be one of {', '.join(METHODS)}, not {method!r}", field="method"
        )
    if not 0.0 <= frac_noise <= 1.0:
        raise InvalidInput(f"frac_noise must be in [0, 1], not {frac_noise!r}", field="frac_noise")
    if min_examples_per_class < 0:
        raise InvalidInput(
            "min_examples_per_class must be 0 or more", field="min_examples_per_class"
        )
    confidence = proba[np.arange(given.size), given]
    mask: BoolArray
    if method == "confident_learning":
        guess, counted = _true_guess(given, proba)
        mask = counted & (guess != given)
    else:
        counts = np.bincount(given, minlength=proba.shape[1]).astype(np.int64)
        calibrated = _calibrate(_joint(given, proba), given)
        prune = _prune_counts(calibrated, counts, frac_noise, min_examples_per_class)
        prunable = counts > min_examples_per_class
        if method in ("prune_by_class", "both"):
            by_class = _prune_by_class(given, confidence, prune.sum(axis=1) * prunable)
        if method in ("prune_by_noise_rate", "both"):
            by_rate = _prune_by_noise_rate(given, proba, confidence, prune * prunable[:, None])
        if method == "prune_by_class":
            mask = by_class
        elif method == "prune_by_noise_rate":
            mask = by_rate
        else:
            mask = by_class & by_rate
    nudged = proba.copy()
    nudged[np.arange(given.size), given] += EPSILON
    mask &= nudged.argmax(axis=1) != given
    if return_mask:
        return mask
    flagged = np.flatnonzero(mask)
    ranked: IntArray = flagged[np.argsort(confidence[flagged], kind="stable")].astype(np.int64)
    return ranked


def _prune_by_class(given: IntArray, confidence: FloatArray, per_class: IntArray) -> BoolArray:
    """Per given class, flag its ``per_class[i]`` rows of lowest self-confidence."""
    mask = np.zeros(given.size, dtype=bool)
    for label in np.flatnonzero(per_class):
        rows = np.flatnonzero(given == label)
        mask[rows[np.argsort(confidence[rows], kind="stable")[: per_class[label]]]] = True
    return mask


def _prune_by_noise_rate(
    given: IntArray, proba: FloatArray, confidence: FloatArray, prune: IntArray
) -> BoolArray:
    """For every cell (i, j), flag the ``prune[i, j]`` rows labelled i with the largest
    ``p_j - p_i``: those the model most prefers j over their label for."""
    mask = np.zeros(given.size, dtype=bool)
    for label in np.flatnonzero(prune.sum(axis=1)):
        rows = np.flatnonzero(given == label)
        for true in np.flatnonzero(prune[label]):
            lead = proba[rows, true] - confidence[rows]
            mask[rows[np.argsort(-lead, kind="stable")[: prune[label, true]]]] = True
    return mask


def cross_validated_probabilities(
    model: Any,
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    y: npt.ArrayLike,
    *,
    folds: int = 5,
    seed: int | None = None,
) -> FloatArray:
    """Out-of-sample ``predict_proba`` for every row, by stratified k-fold.

    ``model`` is any scikit-learn classifier (cloned per fold, never fitted
    itself). Columns follow the sorted classes of ``y``; encode labels the
    same way (``np.unique(y, return_inverse=True)``) for :func:`find_label_issues`.
    """
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    target = np.asarray(y)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise InvalidInput(
            f"folds must be a whole number of at least 2, not {folds!r}", field="folds"
        )
    if not hasattr(model, "predict_proba"):
        raise InvalidInput(
            f"{type(model).__name__} has no predict_proba; use a probabilistic classifier",
            field="model",
        )
    classes, counts = np.unique(target, return_counts=True)
    if classes.size < 2:
        raise InvalidInput("y has one class; label issues need two or more", field="y")
    if counts.min() < folds:
        rare = classes[int(np.argmin(counts))]
        raise InvalidInput(
            f"class {rare!r} has {counts.min()} rows, fewer than folds={folds}; "
            "lower folds or label more rows of it",
            field="y",
        )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clone(model), X, target, cv=splitter, method="predict_proba")
    return np.asarray(proba, dtype=np.float64)
