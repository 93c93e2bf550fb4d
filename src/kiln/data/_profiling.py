"""Computing a :class:`~kiln.data.Profile` from an Arrow table, one column at a time.

Numeric columns are sorted once with NumPy; quantiles, the display
histogram, the PSI bins and the distinct count are then read off the sorted
values by index and binary search, so no statistic costs another pass.
Categorical columns use Arrow's ``value_counts``. Nothing loops over rows in
Python.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.data._profile import (
    DECILES,
    QUANTILES,
    ColumnProfile,
    Histogram,
    Profile,
    Scalar,
    quantile_key,
)
from kiln.data._types import BOOLEAN, CATEGORICAL, NUMERIC, TEMPORAL, column_kind, logical_type
from kiln.errors import InvalidInput


def compute_profile(
    table: pa.Table,
    *,
    bins: int,
    top_k: int,
    dataset: str | None = None,
    version: int | None = None,
) -> Profile:
    """Profile every column of ``table``."""
    if not isinstance(bins, int) or bins < 1:
        raise InvalidInput(f"bins must be a whole number from 1, got {bins!r}", field="bins")
    if not isinstance(top_k, int) or top_k < 1:
        raise InvalidInput(f"top_k must be a whole number from 1, got {top_k!r}", field="top_k")
    columns = tuple(
        profile_column(name, table.column(index), table.num_rows, bins=bins, top_k=top_k)
        for index, name in enumerate(table.column_names)
    )
    return Profile(table.num_rows, columns, bins, top_k, dataset, version)


def profile_column(
    name: str, column: pa.ChunkedArray, num_rows: int, *, bins: int, top_k: int
) -> ColumnProfile:
    kind = column_kind(column.type)
    base: dict[str, Any] = {
        "name": name,
        "type": logical_type(column.type),
        "kind": kind,
        "nulls": column.null_count,
    }
    if kind == NUMERIC:
        return _numeric(base, column, num_rows, bins)
    count = len(column) - column.null_count
    base.update(count=count, null_rate=_rate(column.null_count, num_rows))
    if kind == CATEGORICAL:
        return ColumnProfile(**base, **_categorical(column, count, top_k))
    if kind == BOOLEAN:
        trues = int(pc.sum(column).as_py() or 0)
        top = tuple((value, n) for value, n in ((True, trues), (False, count - trues)) if n)
        mean = trues / count if count else None
        return ColumnProfile(**base, distinct=len(top), top=top, mean=mean)
    if kind == TEMPORAL and count:
        return ColumnProfile(**base, **_temporal(column))
    return ColumnProfile(**base)


def _temporal(column: pa.ChunkedArray) -> dict[str, Any]:
    """Distinct count; for timestamps and dates also the extremes, as ISO text.

    Times of day and durations get no extremes: Arrow cannot read them back
    from text, so range checks could not use them.
    """
    found: dict[str, Any] = {"distinct": int(pc.count_distinct(column).as_py())}
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        extremes = pc.min_max(column)
        found["min"] = pc.cast(extremes["min"], pa.string()).as_py()
        found["max"] = pc.cast(extremes["max"], pa.string()).as_py()
    return found


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def numeric_values(column: pa.ChunkedArray) -> tuple[np.ndarray, int, int]:
    """The column's finite values as NumPy (ints stay ints), and its NaN and ±inf counts."""
    if pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    values = pc.drop_null(column) if column.null_count else column
    array = values.to_numpy() if values.num_chunks else np.array([], dtype=np.float64)
    if array.dtype.kind != "f":
        return array, 0, 0
    finite = np.isfinite(array)
    if finite.all():
        return array, 0, 0
    nan = int(np.isnan(array).sum())
    infinite = len(array) - int(finite.sum()) - nan
    return array[finite], nan, infinite


def _numeric(
    base: dict[str, Any], column: pa.ChunkedArray, num_rows: int, bins: int
) -> ColumnProfile:
    values, nan, infinite = numeric_values(column)
    missing = column.null_count + nan
    base.update(nan=nan, infinite=infinite, null_rate=_rate(missing, num_rows))
    n = len(values)
    if n == 0:
        return ColumnProfile(**base, count=infinite, distinct=0)
    ordered = np.sort(values)
    as_float = ordered.astype(np.float64, copy=False)
    mean = float(as_float.mean())
    std = float(as_float.std(ddof=1)) if n > 1 else None
    quantiles = _quantiles(as_float, QUANTILES)
    return ColumnProfile(
        **base,
        count=n + infinite,
        distinct=1 + int(np.count_nonzero(ordered[1:] != ordered[:-1])),
        min=_scalar(ordered[0]),
        max=_scalar(ordered[-1]),
        mean=mean,
        std=None if std is None or math.isnan(std) else std,
        quantiles={quantile_key(q): value for q, value in zip(QUANTILES, quantiles, strict=True)},
        histogram=_histogram(as_float, bins),
        psi_bins=_psi_bins(as_float, [quantiles[QUANTILES.index(q)] for q in DECILES]),
    )


def _scalar(value: Any) -> Scalar:
    item = value.item()
    return float(item) if isinstance(item, float) else int(item)


def _quantiles(ordered: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """NumPy's default ("linear") quantiles, read off sorted values."""
    position = np.asarray(qs) * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    fraction = position - below
    low, high = ordered[below], ordered[above]
    return [float(v) for v in low + (high - low) * fraction]


def _histogram(ordered: np.ndarray, bins: int) -> Histogram:
    """``np.histogram(values, bins)``: equal-width bins from min to max, the last one closed."""
    low, high = float(ordered[0]), float(ordered[-1])
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, bins + 1)
    starts = np.searchsorted(ordered, edges[:-1], side="left")
    counts = np.diff(np.append(starts, len(ordered)))
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def _psi_bins(ordered: np.ndarray, deciles: list[float]) -> Histogram:
    """The reference's decile bins for PSI: inner edges, open outer bins, and their counts."""
    edges = np.unique(np.asarray(deciles, dtype=np.float64))
    below = np.searchsorted(ordered, edges, side="left")
    counts = np.diff(np.concatenate(([0], below, [len(ordered)])))
    return Histogram(tuple(float(e) for e in edges), tuple(int(c) for c in counts))


def bin_counts(values: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """How many ``values`` fall in each PSI bin of ``edges`` (``len(edges) + 1`` bins)."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    return np.bincount(index, minlength=len(edges) + 1)


def value_counts(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The column's distinct non-null values and how often each occurs."""
    if len(column) == 0 or len(column) == column.null_count:
        return pa.array([], type=pa.string()), np.array([], dtype=np.int64)
    counted = pc.value_counts(column)
    values, counts = counted.field("values"), counted.field("counts")
    if values.null_count:
        keep = values.is_valid()
        values, counts = values.filter(keep), counts.filter(keep)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    return values, counts.to_numpy(zero_copy_only=False)


def _categorical(column: pa.ChunkedArray, count: int, top_k: int) -> dict[str, Any]:
    values, counts = value_counts(column)
    order = top_indices(counts, top_k)
    top = tuple(zip(values.take(pa.array(order)).to_pylist(), counts[order].tolist(), strict=True))
    return {"distinct": len(values), "top": top, "other": count - int(counts[order].sum())}


def top_indices(counts: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest counts, largest first (ties: first seen first)."""
    if len(counts) > 4 * k:
        candidates = np.argpartition(-counts, k)[:k]
        candidates.sort()
    else:
        candidates = np.arange(len(counts))
    ranked = candidates[np.argsort(-counts[candidates], kind="stable")]
    return ranked[:k]
