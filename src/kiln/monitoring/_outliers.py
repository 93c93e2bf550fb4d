"""Outliers: the share of current rows that look unlike the reference.

Two methods, both fitted on the reference only, so that a batch of outliers
cannot hide itself by moving the yardstick:

* ``robust_z`` (default): per column, the modified z-score of Iglewicz and
  Hoaglin, ``(x - median) / (1.4826 MAD)`` with the reference's median and
  median absolute deviation; a row is an outlier when any column's |z|
  exceeds the threshold (3.5, their recommendation). It also says which
  columns are at fault. NumPy only.
* ``isolation_forest``: scikit-learn's ``IsolationForest`` on all columns at
  once, which also sees rows whose combination of values is unusual. The
  score threshold is the reference's ``contamination`` quantile.

docs/monitoring-performance.md gives the definitions and edge cases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._performance import plain

__all__ = ["MAD_SCALE", "MEAN_AD_SCALE", "OutlierResult", "outlier_share"]

#: 1 / Φ⁻¹(3/4): makes the MAD a consistent estimate of a normal standard deviation.
MAD_SCALE = 1.4826
#: sqrt(π / 2): the same for the mean absolute deviation, used when the MAD is 0.
MEAN_AD_SCALE = 1.253314
#: The forest's seed, so that the same data always gives the same answer.
RANDOM_STATE = 0

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OutlierResult:
    """How many of the ``n`` current rows are outliers.

    ``reference_share`` is the same measure applied to the reference itself
    (for ``isolation_forest`` it is close to ``contamination`` by
    construction). ``columns`` maps each column to the share of current rows
    outlying in it (``robust_z`` only; None for ``isolation_forest``).
    ``details`` holds what the decision used: per-column centres and scales,
    or the forest's score threshold.
    """

    method: str
    n: int
    count: int
    share: float
    reference_share: float
    columns: Mapping[str, float] | None
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def _column(values: object, name: str) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be numeric: {exc}", field=name) from exc
    if array.ndim != 1:
        raise InvalidInput(f"{name} must be one-dimensional, got shape {array.shape}", field=name)
    return array


def _by_name(data: object) -> bool:
    return hasattr(data, "keys") and hasattr(data, "__getitem__")


def _matrix(data: Any, name: str, columns: list[str] | None) -> tuple[list[str], FloatArray]:
    """``data`` as rows x columns; ``columns`` are the reference's, which ``data`` must have."""
    if _by_name(data):
        keys = {str(key): key for key in data}
        wanted = list(keys) if columns is None else columns
        missing = [c for c in wanted if c not in keys]
        if missing:
            raise InvalidInput(f"{name} lacks the reference columns {missing!r}", field=name)
        if not wanted:
            raise InvalidInput(f"{name} has no columns", field=name)
        arrays = [_column(data[keys[c]], f"{name}[{c!r}]") for c in wanted]
        if len({a.size for a in arrays}) > 1:
            sizes = {c: a.size for c, a in zip(wanted, arrays, strict=True)}
            raise InvalidInput(f"{name}'s columns differ in length: {sizes}", field=name)
        matrix = np.column_stack(arrays)
        names = wanted
    else:
        try:
            matrix = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{name} must be numeric: {exc}", field=name) from exc
        if matrix.ndim == 1:
            matrix = matrix[:, None]
        if matrix.ndim != 2 or matrix.shape[1] == 0:
            raise InvalidInput(
                f"{name} must be rows x columns (2-D), got shape {matrix.shape}", field=name
            )
        names = [str(i) for i in range(matrix.shape[1])]
        if columns is not None and len(columns) != len(names):
            raise InvalidInput(
                f"{name} has {len(names)} columns but reference has {len(columns)}", field=name
            )
    if matrix.shape[0] == 0:
        raise InvalidInput(f"{name} has no rows; pass at least one", field=name)
    return names, matrix


def _robust_z(
    ref: FloatArray, cur: FloatArray, names: list[str], threshold: float
) -> OutlierResult:
    centre = np.nanmedian(ref, axis=0)
    deviation = np.abs(ref - centre)
    mad = np.nanmedian(deviation, axis=0)
    mean_ad = np.nanmean(deviation, axis=0)
    scale = np.where(mad > 0, MAD_SCALE * mad, MEAN_AD_SCALE * mean_ad)
    # |x - centre| > threshold * scale is |z| > threshold without dividing by a zero scale:
    # against a constant reference column every other value is an outlier. NaN never is.
    cur_flags = np.abs(cur - centre) > threshold * scale
    ref_flags = np.abs(ref - centre) > threshold * scale
    outlying = cur_flags.any(axis=1)
    source = np.where(mad > 0, "mad", np.where(mean_ad > 0, "mean_absolute_deviation", "constant"))
    return OutlierResult(
        method="robust_z",
        n=int(cur.shape[0]),
        count=int(outlying.sum()),
        share=float(outlying.mean()),
        reference_share=float(ref_flags.any(axis=1).mean()),
        columns=dict(zip(names, cur_flags.mean(axis=0).tolist(), strict=True)),
        details={
            "threshold": threshold,
            "median": dict(zip(names, centre.tolist(), strict=True)),
            "scale": dict(zip(names, scale.tolist(), strict=True)),
            "scale_source": dict(zip(names, source.tolist(), strict=True)),
        },
    )


def _isolation_forest(ref: FloatArray, cur: FloatArray, contamination: float) -> OutlierResult:
    try:
        from sklearn.ensemble import IsolationForest
    except ImportError as exc:
        raise NotFound(
            f"method='isolation_forest' needs scikit-learn, which cannot be imported ({exc}); "
            "install kiln-ml[ml], or use method='robust_z'"
        ) from None
    centre = np.nanmedian(ref, axis=0)
    ref = np.where(np.isnan(ref), centre, ref)
    # Beyond the reference's range a value takes the same branch as the extreme value itself,
    # so clipping changes no score and keeps infinities away from scikit-learn.
    cur = np.clip(np.where(np.isnan(cur), centre, cur), ref.min(axis=0), ref.max(axis=0))
    forest = IsolationForest(random_state=RANDOM_STATE).fit(ref)
    ref_scores = forest.score_samples(ref)
    cut = float(np.quantile(ref_scores, contamination))
    outlying = forest.score_samples(cur) < cut
    return OutlierResult(
        method="isolation_forest",
        n=int(cur.shape[0]),
        count=int(outlying.sum()),
        share=float(outlying.mean()),
        reference_share=float(np.mean(ref_scores < cut)),
        columns=None,
        details={
            "contamination": contamination,
            "score_threshold": cut,
            "random_state": RANDOM_STATE,
        },
    )


def outlier_share(
    reference: object,
    current: object,
    *,
    method: Literal["robust_z", "isolation_forest"] = "robust_z",
    threshold: float = 3.5,
    contamination: float = 0.01,
) -> OutlierResult:
    """The share of ``current`` rows that are outliers with respect to ``reference``.

    Both are 2-D numeric data: arrays of rows x columns (a 1-D array is one
    column) or mappings / DataFrames of column name → values; ``current``
    must hold the reference's columns (others are ignored). NaN is missing and
    never makes a row an outlier; reference infinities count as missing.
    ``threshold`` is the |z| cut of ``robust_z``; ``contamination`` the share
    of reference rows that ``isolation_forest`` calls outliers.
    """
    if method not in ("robust_z", "isolation_forest"):
        raise InvalidInput(
            f"method must be 'robust_z' or 'isolation_forest', got {method!r}", field="method"
        )
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold > 0):
        raise InvalidInput(
            f"threshold must be a positive number, got {threshold!r}", field="threshold"
        )
    if not (isinstance(contamination, int | float) and 0 < contamination <= 0.5):
        raise InvalidInput(
            f"contamination must lie in (0, 0.5], got {contamination!r}", field="contamination"
        )
    if _by_name(reference) != _by_name(current):
        raise InvalidInput(
            "pass reference and current alike: both mappings of column name to values "
            "(or DataFrames), or both arrays",
            field="current",
        )
    names, ref = _matrix(reference, "reference", None)
    _, cur = _matrix(current, "current", names)
    ref = np.where(np.isfinite(ref), ref, np.nan)
    empty = [names[i] for i in np.flatnonzero(np.isnan(ref).all(axis=0))]
    if empty:
        raise InvalidInput(
            f"reference columns {empty!r} have no finite values; drop them", field="reference"
        )
    if method == "robust_z":
        return _robust_z(ref, cur, names, float(threshold))
    return _isolation_forest(ref, cur, float(contamination))
