"""Running the validation checks on an Arrow table: vectorized, one pass per statistic.

Each column is read once into the forms its checks need (finite values as
NumPy for numbers, ``value_counts`` for categories) and every check works
from those. Drift is the population stability index,
``PSI = Σ (cur - ref)·ln(cur / ref)`` over bins with shares clipped at
``1e-4``: for numbers the reference's decile bins (outer bins open), for
categories the reference's top values plus one bin for all others.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kiln.data import _report as names
from kiln.data._profile import ColumnProfile, Profile
from kiln.data._profiling import bin_counts, numeric_values, value_counts
from kiln.data._report import Check
from kiln.data._schema import ColumnExpectation, Schema
from kiln.data._thresholds import DEFAULT_LIMITS, Limit, Spec, Thresholds, resolve
from kiln.data._types import (
    BOOLEAN,
    CATEGORICAL,
    NUMERIC,
    TEMPORAL,
    column_kind,
    comparable_name,
    comparable_type,
    logical_type,
)
from kiln.errors import InvalidInput

#: Shares below this are raised to it in PSI, so an empty bin costs a bounded amount.
PSI_FLOOR = 1e-4
#: Unseen values a check's detail names.
_NAMED = 5

History = Mapping[tuple[str, str | None], Sequence[float]]


def run_checks(
    table: pa.Table,
    schema: Schema,
    *,
    reference: Profile | None,
    thresholds: Thresholds,
    history: History,
) -> list[Check]:
    """Every check of ``schema`` (and, given a reference, of row count and drift) on ``table``."""
    runner = _Runner(table.num_rows, thresholds, history)
    checks: list[Check] = []
    if reference is not None:
        checks.append(runner.row_count(reference.num_rows))
    present = set(table.column_names)
    for expected in schema:
        if expected.name not in present:
            checks.append(
                Check(
                    names.COLUMN_PRESENT,
                    expected.name,
                    False,
                    "missing",
                    "present",
                    f"column {expected.name!r} is missing; the data has "
                    f"{', '.join(table.column_names) or 'no columns'}",
                )
            )
            continue
        checks.append(
            Check(names.COLUMN_PRESENT, expected.name, True, "present", "present", "present")
        )
        ref = reference[expected.name] if reference and expected.name in reference else None
        column = _Column(table.column(expected.name), table.num_rows)
        checks.extend(runner.column(expected, column, ref))
    expected_names = set(schema.names)
    for name in table.column_names:
        if name not in expected_names:
            checks.append(
                Check(
                    names.UNEXPECTED_COLUMN,
                    name,
                    False,
                    "present",
                    "absent",
                    f"column {name!r} is not in the schema",
                    severity="warning" if schema.allow_extra_columns else "error",
                )
            )
    return checks


class _Column:
    """One column and the derived forms checks share, each computed at most once."""

    def __init__(self, data: pa.ChunkedArray, num_rows: int) -> None:
        self.data = data
        self.num_rows = num_rows
        self.kind = column_kind(data.type)

    @cached_property
    def numbers(self) -> tuple[np.ndarray, int, int]:
        """Finite values, NaN count, ±inf count."""
        return numeric_values(self.data)

    @cached_property
    def counted(self) -> tuple[pa.Array, np.ndarray]:
        return value_counts(self.data)

    @property
    def missing(self) -> int:
        nan = self.numbers[1] if self.kind == NUMERIC else 0
        return int(self.data.null_count) + nan

    @property
    def present(self) -> int:
        return len(self.data) - self.missing


@dataclass
class _Runner:
    num_rows: int
    thresholds: Thresholds
    history: History

    def limit(self, spec: Spec, default: float, name: str, column: str | None) -> Limit:
        return resolve(spec, default, self.history.get((name, column), ()))

    def rate_check(
        self, name: str, column: str | None, observed: float, limit: Limit, detail: str
    ) -> Check:
        return Check(
            name,
            column,
            observed <= limit.value,
            observed,
            limit.value,
            f"{detail}; limit {limit.note}",
            severity=limit.severity,
            learned=limit.learned,
        )

    def row_count(self, reference_rows: int) -> Check:
        drop = 1.0 - self.num_rows / reference_rows if reference_rows else 0.0
        spec = self.thresholds.row_count_drop
        limit = self.limit(spec, DEFAULT_LIMITS["row_count_drop"], names.ROW_COUNT, None)
        detail = f"{self.num_rows:,} rows against the reference's {reference_rows:,} ({-drop:+.1%})"
        return self.rate_check(names.ROW_COUNT, None, drop, limit, detail)

    def column(
        self, expected: ColumnExpectation, column: _Column, reference: ColumnProfile | None
    ) -> list[Check]:
        name = expected.name
        actual = logical_type(column.data.type)
        if comparable_type(column.data.type) != comparable_name(expected.type):
            return [
                Check(
                    names.TYPE,
                    name,
                    False,
                    actual,
                    expected.type,
                    f"column {name!r} is {actual}, expected {expected.type}; its other checks "
                    "were skipped",
                )
            ]
        checks = [Check(names.TYPE, name, True, actual, expected.type, f"{actual} as expected")]
        checks.append(self.nulls(expected, column))
        if expected.min is not None or expected.max is not None:
            checks.append(self.range(expected, column))
        if expected.categories is not None:
            checks.append(self.categories(expected, column))
        if expected.unique:
            checks.append(self.unique(expected, column))
        # A unique column is an identifier: its values are not a distribution.
        if reference is not None and reference.kind == column.kind and not expected.unique:
            drift = self.drift(name, column, reference)
            if drift is not None:
                checks.append(drift)
        return checks

    def nulls(self, expected: ColumnExpectation, column: _Column) -> Check:
        missing = column.missing
        rate = missing / self.num_rows if self.num_rows else 0.0
        if not expected.nullable:
            return Check(
                names.NOT_NULL,
                expected.name,
                missing == 0,
                missing,
                0,
                f"{missing:,} missing values in a column that must have none",
            )
        default = 1.0 if expected.max_null_rate is None else expected.max_null_rate
        spec = self.thresholds.null_rate
        if spec is None:
            limit = Limit(default, False, f"from the schema: {default:g}", "error")
        else:
            limit = self.limit(spec, default, names.NULL_RATE, expected.name)
        detail = f"{missing:,} of {self.num_rows:,} values missing ({rate:.2%})"
        return self.rate_check(names.NULL_RATE, expected.name, rate, limit, detail)

    def range(self, expected: ColumnExpectation, column: _Column) -> Check:
        low, high = expected.min, expected.max
        if column.kind == TEMPORAL:
            outside, present = _temporal_outside(column.data, low, high)
        else:
            values, _, infinite = column.numbers
            outside = infinite
            if low is not None:
                outside += int(np.count_nonzero(values < low))
            if high is not None:
                outside += int(np.count_nonzero(values > high))
            present = len(values) + infinite
        share = outside / present if present else 0.0
        spec = self.thresholds.out_of_range
        limit = self.limit(spec, DEFAULT_LIMITS["out_of_range"], names.RANGE, expected.name)
        detail = (
            f"{outside:,} of {present:,} values outside [{_show(low, '-∞')}, {_show(high, '∞')}]"
        )
        return self.rate_check(names.RANGE, expected.name, share, limit, detail)

    def categories(self, expected: ColumnExpectation, column: _Column) -> Check:
        values, counts = column.counted
        allowed = list(expected.categories or ())
        try:
            known = pc.is_in(values, value_set=pa.array(allowed, type=values.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            known = pc.is_in(values.cast(pa.string()), value_set=pa.array(map(str, allowed)))
        unknown = ~known.to_numpy(zero_copy_only=False)
        unseen = int(counts[unknown].sum())
        present = int(counts.sum())
        share = unseen / present if present else 0.0
        spec = self.thresholds.unseen_categories
        limit = self.limit(
            spec, DEFAULT_LIMITS["unseen_categories"], names.CATEGORIES, expected.name
        )
        detail = f"{unseen:,} of {present:,} values outside the {len(allowed)} known categories"
        if unseen:
            index = np.flatnonzero(unknown)
            index = index[np.argsort(-counts[index], kind="stable")][:_NAMED]
            shown = values.take(pa.array(index)).to_pylist()
            detail += f" (e.g. {', '.join(repr(value) for value in shown)})"
        return self.rate_check(names.CATEGORIES, expected.name, share, limit, detail)

    def unique(self, expected: ColumnExpectation, column: _Column) -> Check:
        present = len(column.data) - column.data.null_count
        distinct = int(pc.count_distinct(column.data).as_py())
        duplicates = present - distinct
        return Check(
            names.UNIQUE,
            expected.name,
            duplicates == 0,
            duplicates,
            0,
            f"{duplicates:,} repeated values among {present:,}",
        )

    def drift(self, name: str, column: _Column, reference: ColumnProfile) -> Check | None:
        if column.kind == NUMERIC and reference.psi_bins is not None:
            values = column.numbers[0]
            edges = reference.psi_bins.edges
            current = bin_counts(values, edges)
            expected = np.asarray(reference.psi_bins.counts, dtype=np.float64)
            labels = _bin_labels(edges)
            check_name, spec = names.PSI, self.thresholds.psi
            how = "PSI over the reference's decile bins"
        elif column.kind in (CATEGORICAL, BOOLEAN) and reference.top:
            reference_values = [value for value, _ in reference.top]
            values, counts = column.counted
            current = _category_counts(values, counts, reference_values)
            expected = np.asarray(
                [count for _, count in reference.top] + [reference.other], dtype=np.float64
            )
            labels = [str(value) for value in reference_values] + ["(other)"]
            check_name, spec = names.CATEGORICAL_PSI, self.thresholds.categorical_psi
            how = "PSI over the reference's top values and one bin for the rest"
        else:
            return None
        if current.sum() == 0 or expected.sum() == 0:
            return None
        reference_share = expected / expected.sum()
        current_share = current / current.sum()
        psi = _psi(reference_share, current_share)
        limit = self.limit(spec, DEFAULT_LIMITS[check_name], check_name, name)
        check = self.rate_check(check_name, name, psi, limit, f"{how}: {psi:.4f}")
        distribution = {
            "labels": labels,
            "reference": [float(share) for share in reference_share],
            "current": [float(share) for share in current_share],
        }
        return dataclasses.replace(check, distribution=distribution)


def _psi(reference: np.ndarray, current: np.ndarray) -> float:
    ref = np.maximum(reference, PSI_FLOOR)
    cur = np.maximum(current, PSI_FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def _category_counts(values: pa.Array, counts: np.ndarray, reference: list[Any]) -> np.ndarray:
    """Counts of the current data in the reference's top values, then one for all others."""
    try:
        lookup = pa.array(reference, type=values.type)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        values, lookup = values.cast(pa.string()), pa.array([str(value) for value in reference])
    position = pc.index_in(values, value_set=lookup)
    index = pc.fill_null(position, len(reference)).to_numpy(zero_copy_only=False)
    return np.bincount(index, weights=counts, minlength=len(reference) + 1)


def _bin_labels(edges: Sequence[float]) -> list[str]:
    bounds = ["-∞", *(f"{edge:.4g}" for edge in edges), "∞"]
    return [f"[{low}, {high})" for low, high in itertools.pairwise(bounds)]


def _temporal_outside(data: pa.ChunkedArray, low: Any, high: Any) -> tuple[int, int]:
    present = len(data) - data.null_count
    outside = 0
    for bound, compare in ((low, pc.less), (high, pc.greater)):
        if bound is not None:
            try:
                limit = pa.scalar(str(bound)).cast(data.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InvalidInput(
                    f"the bound {bound!r} cannot be read as {data.type}; give ISO text such as "
                    "'2026-01-31' or '2026-01-31 12:00:00'",
                    field="schema",
                ) from None
            outside += int(pc.sum(compare(data, limit)).as_py() or 0)
    return outside, present


def _show(value: Any, unbounded: str) -> str:
    return unbounded if value is None else str(value)
