"""Computing a :class:`ReferenceProfile`, and reading columns the way every check reads them.

A numeric column is sorted once; its quantiles, PSI bins, histogram and
distinct values are read off the sorted array by index and binary search.
A categorical column is counted once with Arrow's ``value_counts``. The
same readers (:func:`numeric_column`, :func:`categorical_column`) serve the
current data, so the reference and the current side agree on what a value
is: NaN is missing, ±inf is left out and counted, booleans and dictionary
columns are categories, read as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from kiln.data._profiling import numeric_values, value_counts
from kiln.data._types import BOOLEAN, CATEGORICAL, NUMERIC, column_kind
from kiln.errors import InvalidInput
from kiln.monitoring._reference import (
    EXACT_DISTINCT,
    MAX_CATEGORIES,
    QUANTILE_POINTS,
    CategoricalSketch,
    NumericSketch,
    ReferenceProfile,
    Sketch,
)

__all__ = [
    "CurrentCategories",
    "CurrentNumbers",
    "as_table",
    "build_profile",
    "categorical_column",
    "drift_kind",
    "numeric_column",
    "parallel_map",
]

DECILES = np.linspace(0.1, 0.9, 9)
HISTOGRAM_BINS = 20

FloatArray = npt.NDArray[np.float64]


def as_table(data: Any, *, field: str) -> pa.Table:
    """``data`` (a pyarrow Table, a pandas or polars DataFrame, or a column mapping) as Arrow."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        from kiln.data._sources import from_pandas

        return from_pandas(data)
    if module == "polars":
        return data.to_arrow()
    if isinstance(data, Mapping):
        try:
            return pa.table(
                {str(k): np.asarray(v) if isinstance(v, list) else v for k, v in data.items()}
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as error:
            raise InvalidInput(f"{field} cannot be read as columns: {error}", field=field) from None
    raise InvalidInput(
        f"{field} must be a pandas or polars DataFrame, a pyarrow Table or a mapping of "
        f"column → values, got {type(data).__name__}",
        field=field,
    )


def drift_kind(data_type: pa.DataType) -> str | None:
    """``numeric``, ``categorical``, or None for types no drift test reads (times, lists)."""
    kind = column_kind(data_type)
    if kind == NUMERIC:
        return "numeric"
    if kind in (CATEGORICAL, BOOLEAN):
        return "categorical"
    return None


@dataclass(frozen=True)
class CurrentNumbers:
    """A numeric column read once: its finite values sorted, and what was left out."""

    sorted: FloatArray
    missing: int
    infinite: int
    integer: bool


@dataclass(frozen=True)
class CurrentCategories:
    """A categorical column read once: distinct values (text) and their counts."""

    values: list[str]
    counts: npt.NDArray[np.int64]
    missing: int


def numeric_column(column: pa.ChunkedArray) -> CurrentNumbers:
    values, nan, infinite = numeric_values(column)
    integer = values.dtype.kind in "iu"
    return CurrentNumbers(
        np.sort(values.astype(np.float64, copy=False)),
        column.null_count + nan,
        infinite,
        integer,
    )


def categorical_column(column: pa.ChunkedArray) -> CurrentCategories:
    values, counts = value_counts(column)
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.string())
    return CurrentCategories(values.to_pylist(), counts.astype(np.int64), column.null_count)


def _quantiles(ordered: FloatArray, levels: FloatArray) -> FloatArray:
    """NumPy's default ("linear") quantiles, read off sorted values."""
    position = levels * (len(ordered) - 1)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, len(ordered) - 1)
    low, high = ordered[below], ordered[above]
    return low + (high - low) * (position - below)


def histogram(ordered: FloatArray, low: float, high: float) -> tuple[FloatArray, FloatArray]:
    """``HISTOGRAM_BINS`` equal-width bins over ``[low, high]``; values outside go to the ends."""
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    starts = np.searchsorted(ordered, edges[1:-1], side="left")
    counts = np.diff(np.concatenate(([0], starts, [len(ordered)])))
    return edges, counts.astype(np.float64)


def psi_counts(ordered: FloatArray, inner_edges: FloatArray) -> FloatArray:
    """Counts in the PSI bins ``[e_i, e_{i+1})`` of sorted values (outer bins open)."""
    positions = np.searchsorted(ordered, inner_edges, side="left")
    return np.diff(np.concatenate(([0], positions, [len(ordered)]))).astype(np.float64)


def _numeric_sketch(numbers: CurrentNumbers) -> NumericSketch:
    ordered = numbers.sorted
    n = len(ordered)
    if n == 0:
        raise InvalidInput("no finite values", field="reference")
    # The edges of ``_stats.psi``: quantiles 0, 0.1, …, 1, repeats merged, ends dropped.
    levels = np.concatenate(([0.0], DECILES, [1.0]))
    inner = np.unique(_quantiles(ordered, levels))[1:-1]
    edges, counts = histogram(ordered, float(ordered[0]), float(ordered[-1]))
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    exact = len(starts) <= EXACT_DISTINCT
    median = float(_quantiles(ordered, np.array([0.5]))[0])
    return NumericSketch(
        count=n,
        missing=numbers.missing,
        infinite=numbers.infinite,
        integer=numbers.integer,
        min=float(ordered[0]),
        max=float(ordered[-1]),
        mean=float(ordered.mean()),
        std=float(ordered.std()),
        median=median,
        mad=float(np.median(np.abs(ordered - median))),
        psi_edges=tuple(inner.tolist()),
        psi_counts=tuple(int(c) for c in psi_counts(ordered, inner)),
        hist_edges=tuple(edges.tolist()),
        hist_counts=tuple(int(c) for c in counts),
        values=tuple(ordered[starts].tolist()) if exact else None,
        counts=tuple(np.diff(np.append(starts, n)).tolist()) if exact else None,
        quantiles=None
        if exact
        else tuple(_quantiles(ordered, np.linspace(0.0, 1.0, QUANTILE_POINTS)).tolist()),
    )


def _categorical_sketch(found: CurrentCategories) -> CategoricalSketch:
    order = np.argsort(-found.counts, kind="stable")
    kept = order[:MAX_CATEGORIES]
    total = int(found.counts.sum())
    if total == 0:
        raise InvalidInput("no values", field="reference")
    kept_counts = found.counts[kept]
    return CategoricalSketch(
        count=total,
        missing=found.missing,
        distinct=len(found.values),
        categories=tuple(found.values[i] for i in kept.tolist()),
        counts=tuple(int(c) for c in kept_counts),
        other=total - int(kept_counts.sum()),
    )


def sketch_column(column: pa.ChunkedArray, kind: str) -> Sketch:
    if kind == "numeric":
        return _numeric_sketch(numeric_column(column))
    return _categorical_sketch(categorical_column(column))


def parallel_map(function: Any, items: list[Any]) -> list[Any]:
    """``function`` over ``items`` on threads: NumPy sorts and Arrow kernels release the GIL."""
    if len(items) < 2:
        return [function(item) for item in items]
    import os

    with ThreadPoolExecutor(max_workers=min(len(items), os.cpu_count() or 1, 8)) as pool:
        return list(pool.map(function, items))


def build_profile(
    data: Any,
    *,
    columns: list[str] | None = None,
    source: Mapping[str, Any] | None = None,
) -> ReferenceProfile:
    """Profile ``columns`` (default: all) of ``data`` as a drift reference.

    Columns of a type no drift test reads, and columns with no value at all,
    are listed in ``skipped`` with the reason rather than failing the profile.
    """
    table = as_table(data, field="reference")
    names = list(table.column_names) if columns is None else list(columns)
    missing = [name for name in names if name not in table.column_names]
    if missing:
        raise InvalidInput(
            f"the reference has no column {', '.join(map(repr, missing))}", field="columns"
        )
    skipped: dict[str, str] = {}
    wanted: list[tuple[str, str]] = []
    for name in names:
        kind = drift_kind(table.schema.field(name).type)
        if kind is None:
            skipped[name] = f"type {table.schema.field(name).type} has no drift test"
        else:
            wanted.append((name, kind))

    def one(item: tuple[str, str]) -> Sketch | str:
        name, kind = item
        try:
            return sketch_column(table.column(name), kind)
        except InvalidInput as error:
            return f"{error.args[0]} in the reference"

    sketches: dict[str, Sketch] = {}
    for (name, _), result in zip(wanted, parallel_map(one, wanted), strict=True):
        if isinstance(result, str):
            skipped[name] = result
        else:
            sketches[name] = result
    return ReferenceProfile(table.num_rows, sketches, dict(source or {"kind": "rows"}), skipped)
