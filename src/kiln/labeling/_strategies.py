"""Active-learning query strategies: which unlabelled rows to send to annotators next.

A strategy scores each row from the model's predicted probabilities (rows by
classes); a higher score means the model is less sure, so a label there
teaches it more:

- :func:`least_confidence` — ``1 - max_j p_j``: how far the top class is
  from certain;
- :func:`margin` — ``1 - (p_(1) - p_(2))``: how close the top two classes
  are; it ignores the rest of the distribution;
- :func:`entropy` — ``-Σ p_j ln p_j`` (nats): uncertainty over all classes.

:func:`select_batch` takes the ``k`` highest-scoring rows, or, given the
rows' ``features``, a diversity-aware batch: the ``pool * k`` most uncertain
rows are candidates and k-center greedy (farthest-first on standardized
features, started at the most uncertain) picks ``k`` that cover them, so a
batch is not ``k`` near-duplicates of the same confusing example.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = ["STRATEGIES", "entropy", "least_confidence", "margin", "select_batch"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Strategy = Literal["entropy", "margin", "least_confidence", "random"]

#: How far a row of probabilities may sum from 1 (float32 softmax outputs drift).
SUM_TOLERANCE = 1e-3


def _probabilities(proba: npt.ArrayLike) -> FloatArray:
    try:
        array = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"proba must be numbers ({exc})", field="proba") from exc
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidInput(
            f"proba must be rows-by-classes predicted probabilities, got shape {array.shape}; "
            "pass model.predict_proba(X)",
            field="proba",
        )
    if not np.all(np.isfinite(array)) or array.min() < 0.0 or array.max() > 1.0:
        raise InvalidInput("proba must be probabilities in [0, 1], without NaN", field="proba")
    sums = array.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > SUM_TOLERANCE:
        raise InvalidInput(
            f"each row of proba must sum to 1; row {worst} sums to {sums[worst]:.6g} "
            "(pass probabilities, not scores or logits: apply a softmax first)",
            field="proba",
        )
    return array


def least_confidence(proba: npt.ArrayLike) -> FloatArray:
    """``1 - max_j p_j`` per row: 0 when the model is certain, ``1 - 1/classes`` at most."""
    array = _probabilities(proba)
    scores: FloatArray = 1.0 - array.max(axis=1)
    return scores


def margin(proba: npt.ArrayLike) -> FloatArray:
    """``1 - (p_(1) - p_(2))`` per row: 1 when the two likeliest classes tie.

    Turned around from the usual margin so that, like the others, higher means
    more uncertain. A single-class problem has no second class and scores 0.
    """
    array = _probabilities(proba)
    if array.shape[1] < 2:
        return np.zeros(array.shape[0])
    top_two = np.partition(array, array.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top_two[:, 1] - top_two[:, 0])


def entropy(proba: npt.ArrayLike) -> FloatArray:
    """Shannon entropy ``-Σ p_j ln p_j`` per row in nats (``0 ln 0 = 0``); ``ln K`` at most."""
    array = _probabilities(proba)
    logs = np.log(array, out=np.zeros_like(array), where=array > 0)
    scores: FloatArray = -(array * logs).sum(axis=1)
    return np.maximum(scores, 0.0)


STRATEGIES: dict[str, Callable[[npt.ArrayLike], FloatArray]] = {
    "entropy": entropy,
    "least_confidence": least_confidence,
    "margin": margin,
}


def _top(scores: FloatArray, count: int) -> IntArray:
    """Indices of the ``count`` highest scores, highest first; ties go to the lower index."""
    if count < scores.size:
        part = np.argpartition(-scores, count - 1)[:count]
        # argpartition breaks ties arbitrarily: take every row tied at the cut, then the lowest.
        cut = scores[part].min()
        part = np.concatenate([np.flatnonzero(scores > cut), np.flatnonzero(scores == cut)])
    else:
        part = np.arange(scores.size)
    order = np.lexsort((part, -scores[part]))
    return part[order][:count].astype(np.int64)


def _farthest_first(points: FloatArray, k: int) -> IntArray:
    """k-center greedy over ``points``, starting at row 0: each pick is the point farthest
    from those already picked, which is a 2-approximation of the best covering."""
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = 0
    nearest = ((points - points[0]) ** 2).sum(axis=1)
    for step in range(1, k):
        pick = int(np.argmax(nearest))
        chosen[step] = pick
        np.minimum(nearest, ((points - points[pick]) ** 2).sum(axis=1), out=nearest)
    return chosen


def select_batch(
    proba: npt.ArrayLike,
    k: int,
    *,
    strategy: Strategy = "entropy",
    features: npt.ArrayLike | None = None,
    pool: float = 10.0,
    seed: int | None = None,
) -> IntArray:
    """Indices of the ``k`` rows to label next, in the order they were picked.

    ``proba`` is the model's predicted probabilities for the unlabelled rows.
    Without ``features`` the ``k`` most uncertain rows are returned, most
    uncertain first (ties to the lower index). With ``features`` (one row per
    row of ``proba``), the ``ceil(pool * k)`` most uncertain rows are the
    candidates and farthest-first picks ``k`` of them that spread over the
    feature space; ``pool=1`` turns diversity off. ``strategy="random"``
    ignores the scores and draws ``k`` rows with ``seed`` (the baseline every
    strategy should beat). Fewer than ``k`` rows means all of them.
    """
    array = _probabilities(proba)
    n = array.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise InvalidInput(f"k must be a positive whole number of rows, not {k!r}", field="k")
    k = min(int(k), n)
    if strategy == "random":
        return np.random.default_rng(seed).choice(n, size=k, replace=False).astype(np.int64)
    score = STRATEGIES.get(strategy)
    if score is None:
        raise InvalidInput(
            f"strategy must be one of {', '.join([*sorted(STRATEGIES), 'random'])}, "
            f"not {strategy!r}",
            field="strategy",
        )
    scores = score(array)
    if features is None:
        return _top(scores, k)
    if not np.isfinite(pool) or pool < 1.0:
        raise InvalidInput(
            f"pool must be at least 1 (candidates per batch row), not {pool!r}", field="pool"
        )
    points = _features(features, n)
    candidates = _top(scores, min(n, int(np.ceil(pool * k))))
    scale = points.std(axis=0)
    scale[scale == 0.0] = 1.0
    standardized = (points[candidates] - points.mean(axis=0)) / scale
    return candidates[_farthest_first(standardized, k)]


def _features(features: npt.ArrayLike, n: int) -> FloatArray:
    try:
        points = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"features must be numbers ({exc})", field="features") from exc
    if points.ndim == 1:
        points = points[:, None]
    if points.ndim != 2 or points.shape[0] != n:
        raise InvalidInput(
            f"features must have one row per row of proba ({n}), got shape {points.shape}",
            field="features",
        )
    if not np.all(np.isfinite(points)):
        raise InvalidInput(
            "features hold NaN or infinity; impute or drop them first", field="features"
        )
    return points
