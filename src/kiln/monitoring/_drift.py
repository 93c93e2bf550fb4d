"""Drift per column of current data against a reference: raw rows or a stored profile.

::

    check_drift(reference, current) ──► DriftReport
      reference: data ──► build_profile (sketches) + the raw values, kept for exact tests
                 ReferenceProfile ──► sketches only (_against_profile.py)
      per column (threads): read once ──► choose the test ──► TestResult + an overlay
      ──► optional multiple-testing correction of the p-values ──► share of drifted columns

With raw reference rows every numeric test is ``_stats``'s (SciPy's
numbers); with only a profile, KS, Wasserstein and PSI are computed against
the sketch (``_against_profile``). Categorical tests read counts, which a
profile keeps exactly. A column that cannot be tested (missing, empty,
wrong type) is reported with the reason and counts as not drifted; the
data-quality check (``_quality.py``) reports the same columns as findings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from kiln.errors import InvalidInput
from kiln.monitoring import _stats
from kiln.monitoring._against_profile import (
    OTHER,
    aligned_counts,
    ks_against,
    psi_against,
    wasserstein_against,
)
from kiln.monitoring._profiling import (
    CurrentCategories,
    CurrentNumbers,
    as_table,
    build_profile,
    categorical_column,
    drift_kind,
    numeric_column,
    parallel_map,
    psi_counts,
)
from kiln.monitoring._reference import CategoricalSketch, NumericSketch, ReferenceProfile

__all__ = ["ColumnDrift", "DriftReport", "check_drift"]

NUMERIC_TESTS = ("ks", "wasserstein", "psi", "cramer_von_mises")
CATEGORICAL_TESTS = ("chi_square", "g_test", "jensen_shannon", "psi")
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "ks": 0.05,
    "cramer_von_mises": 0.05,
    "chi_square": 0.05,
    "g_test": 0.05,
    "wasserstein": 0.1,
    "jensen_shannon": 0.1,
    "psi": 0.2,
}
HYPOTHESIS_TESTS = ("ks", "cramer_von_mises", "chi_square", "g_test")
CORRECTIONS = ("bonferroni", "holm", "fdr_bh")
#: A numeric column with at most this many distinct reference values is tested, under
#: ``auto``, on its value counts (chi-square or Jensen-Shannon) like a categorical one.
DISCRETE_VALUES = 20
#: Categories shown by name in an overlay; the rest are summed as ``(other)``.
OVERLAY_CATEGORIES = 20


@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift: the test's result, or why it was not tested (``skipped``)."""

    column: str
    kind: str
    result: _stats.TestResult | None
    drift: bool
    adjusted_p_value: float | None = None
    skipped: str | None = None
    overlay: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "drift": self.drift}
        result = self.result
        if result is not None:
            found |= {
                "test": result.test,
                "statistic": _finite(result.statistic),
                "p_value": result.p_value,
                "adjusted_p_value": self.adjusted_p_value,
                "threshold": result.threshold,
                "reference_rows": int(result.details.get("n_reference", 0)),
                "current_rows": int(result.details.get("n_current", 0)),
            }
        if self.skipped is not None:
            found["skipped"] = self.skipped
        return found | dict(self.overlay)


@dataclass(frozen=True)
class DriftReport:
    """Drift of every checked column, and the share that drifted.

    ``dataset_drift`` is ``share >= drift_share`` (the threshold asked for).
    Skipped columns count in neither ``drifted`` nor ``checked``.
    """

    columns: Mapping[str, ColumnDrift]
    share: float
    drifted: int
    checked: int
    dataset_drift: bool
    correction: str | None
    drift_share: float

    @property
    def drifted_columns(self) -> list[str]:
        return [name for name, column in self.columns.items() if column.drift]

    def to_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "drifted": self.drifted,
            "columns_checked": self.checked,
            "dataset_drift": self.dataset_drift,
            "correction": self.correction,
            "drift_share_threshold": self.drift_share,
            "columns": {name: column.to_dict() for name, column in self.columns.items()},
        }


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class _Reference:
    """A column of the reference: its sketch and, when the rows were given, its raw values."""

    sketch: NumericSketch | CategoricalSketch
    raw: pa.ChunkedArray | None


def _test_name(
    tests: str | Mapping[str, str] | None, name: str, kind: str, n_ref: int, n_cur: int, k: int
) -> str:
    chosen = tests.get(name, "auto") if isinstance(tests, Mapping) else (tests or "auto")
    if chosen == "auto":
        return _stats.choose_test(kind, n_ref, n_cur, n_categories=k if kind != "numeric" else None)  # type: ignore[arg-type]
    allowed = NUMERIC_TESTS if kind == "numeric" else CATEGORICAL_TESTS
    if chosen not in allowed:
        raise InvalidInput(
            f"test {chosen!r} does not apply to {kind} column {name!r}; use auto or one of "
            f"{', '.join(allowed)}",
            field="tests",
        )
    return chosen


def _numeric_overlay(sketch: NumericSketch, current: CurrentNumbers) -> dict[str, Any]:
    edges = np.asarray(sketch.hist_edges)
    counts = psi_counts(current.sorted, edges[1:-1])
    return {
        "histogram": {
            "edges": edges.tolist(),
            "reference": list(sketch.hist_counts),
            "current": [int(c) for c in counts],
        }
    }


def _categorical_overlay(
    categories: list[str], ref: np.ndarray[Any, Any], cur: np.ndarray[Any, Any]
) -> dict[str, Any]:
    order = np.argsort(-(ref / max(ref.sum(), 1) + cur / max(cur.sum(), 1)), kind="stable")
    shown = order[:OVERLAY_CATEGORIES]
    rest = order[OVERLAY_CATEGORIES:]
    values = [categories[i] for i in shown.tolist()]
    reference = [int(ref[i]) for i in shown.tolist()]
    current = [int(cur[i]) for i in shown.tolist()]
    if len(rest):
        values.append(OTHER)
        reference.append(int(ref[rest].sum()))
        current.append(int(cur[rest].sum()))
    return {"categories": {"values": values, "reference": reference, "current": current}}


def _numeric_drift(
    name: str, ref: _Reference, column: pa.ChunkedArray, tests: Any, thresholds: Mapping[str, float]
) -> ColumnDrift:
    assert isinstance(ref.sketch, NumericSketch)
    current = numeric_column(column)
    if len(current.sorted) == 0:
        return ColumnDrift(
            name, "numeric", None, False, skipped="no finite values in the current data"
        )
    overlay = _numeric_overlay(ref.sketch, current)
    chosen = tests.get(name, "auto") if isinstance(tests, Mapping) else (tests or "auto")
    values = ref.sketch.values
    if chosen == "auto" and values is not None and len(values) <= DISCRETE_VALUES:
        result = _discrete(ref.sketch, current, thresholds)
        return ColumnDrift(name, "numeric", result, result.drift, overlay=overlay)
    test = _test_name(tests, name, "numeric", ref.sketch.count, len(current.sorted), 0)
    threshold = thresholds.get(test, DEFAULT_THRESHOLDS[test])
    if ref.raw is not None:
        raw = numeric_column(ref.raw).sorted
        if test == "ks":
            result = _stats.ks_test(raw, current.sorted, threshold=threshold)
        elif test == "cramer_von_mises":
            result = _stats.cramer_von_mises(raw, current.sorted, threshold=threshold)
        elif test == "wasserstein":
            result = _stats.wasserstein(raw, current.sorted, threshold=threshold)
        else:
            result = psi_against(ref.sketch, current, threshold=threshold)
    elif test == "ks":
        result = ks_against(ref.sketch, current, threshold=threshold)
    elif test == "wasserstein":
        result = wasserstein_against(ref.sketch, current, threshold=threshold)
    elif test == "psi":
        result = psi_against(ref.sketch, current, threshold=threshold)
    else:
        raise InvalidInput(
            f"{test} needs the reference rows, not a profile (column {name!r}); use ks, "
            "wasserstein or psi with a stored profile",
            field="tests",
        )
    return ColumnDrift(
        name, "numeric", result, result.drift, overlay=_numeric_overlay(ref.sketch, current)
    )


def _discrete(
    sketch: NumericSketch, current: CurrentNumbers, thresholds: Mapping[str, float]
) -> _stats.TestResult:
    """A few-valued numeric column tested on its value counts, as the categorical tests do.

    A distance over so few values mostly measures sampling noise: on a 0/1
    column the normalized Wasserstein distance is twice the difference in
    rates, past 0.1 by chance with a few hundred rows.
    """
    ref_values = np.asarray(sketch.values, dtype=np.float64)
    values = np.union1d(ref_values, np.unique(current.sorted))
    ref_counts = np.zeros(len(values))
    ref_counts[np.searchsorted(values, ref_values)] = np.asarray(sketch.counts, dtype=np.float64)
    ends = np.searchsorted(current.sorted, values, side="right")
    cur_counts = np.diff(np.concatenate(([0], ends))).astype(np.float64)
    n_cur = len(current.sorted)
    test = _stats.choose_test("categorical", sketch.count, n_cur, n_categories=len(values))
    threshold = thresholds.get(test, DEFAULT_THRESHOLDS[test])
    result: _stats.TestResult = getattr(_stats, test)(ref_counts, cur_counts, threshold=threshold)
    details = dict(result.details) | {
        "n_reference": sketch.count,
        "n_current": n_cur,
        "discrete_values": len(values),
    }
    return _stats.TestResult(
        result.test, result.statistic, result.p_value, result.drift, threshold, details
    )


def _categorical_drift(
    name: str, ref: _Reference, column: pa.ChunkedArray, tests: Any, thresholds: Mapping[str, float]
) -> ColumnDrift:
    assert isinstance(ref.sketch, CategoricalSketch)
    current: CurrentCategories = categorical_column(column)
    if int(current.counts.sum()) == 0:
        return ColumnDrift(
            name, "categorical", None, False, skipped="no values in the current data"
        )
    categories, ref_counts, cur_counts = aligned_counts(ref.sketch, current)
    test = _test_name(
        tests, name, "categorical", ref.sketch.count, int(cur_counts.sum()), len(categories)
    )
    threshold = thresholds.get(test, DEFAULT_THRESHOLDS[test])
    if test == "psi":
        statistic = _stats._psi_value(ref_counts, cur_counts)
        result = _stats.TestResult("psi", statistic, None, statistic > threshold, threshold, {})
    else:
        result = getattr(_stats, test)(ref_counts, cur_counts, threshold=threshold)
    details = dict(result.details) | {
        "n_reference": ref.sketch.count,
        "n_current": int(cur_counts.sum()),
    }
    result = _stats.TestResult(
        result.test, result.statistic, result.p_value, result.drift, threshold, details
    )
    overlay = _categorical_overlay(categories, ref_counts, cur_counts)
    return ColumnDrift(name, "categorical", result, result.drift, overlay=overlay)


def _current_matches(name: str, kind: str, table: pa.Table) -> str | None:
    """Why ``name`` cannot be tested in the current table, or None."""
    if name not in table.column_names:
        return "missing from the current data"
    found = drift_kind(table.schema.field(name).type)
    if found != kind and not (kind == "categorical" and found == "numeric"):
        return f"the current column is {table.schema.field(name).type}, the reference {kind}"
    return None


def _references(
    reference: Any, columns: Sequence[str] | None
) -> tuple[ReferenceProfile, pa.Table | None]:
    if isinstance(reference, ReferenceProfile):
        return reference, None
    table = as_table(reference, field="reference")
    return build_profile(table, columns=list(columns) if columns else None), table


def _correct(found: dict[str, ColumnDrift], correction: str | None) -> dict[str, ColumnDrift]:
    if correction is None:
        return found
    if correction not in CORRECTIONS:
        raise InvalidInput(
            f"correction must be one of {', '.join(CORRECTIONS)} or None, got {correction!r}",
            field="correction",
        )
    tested = [
        name
        for name, column in found.items()
        if column.result is not None and column.result.p_value is not None
    ]
    if not tested:
        return found
    p_values = [found[name].result.p_value for name in tested]  # type: ignore[union-attr]
    adjusted = _stats.correct(p_values, correction)  # type: ignore[arg-type]
    for name, p in zip(tested, adjusted.tolist(), strict=True):
        column = found[name]
        assert column.result is not None
        found[name] = ColumnDrift(
            column.column,
            column.kind,
            column.result,
            p < column.result.threshold,
            adjusted_p_value=p,
            overlay=column.overlay,
        )
    return found


def check_drift(
    reference: Any,
    current: Any,
    *,
    columns: Sequence[str] | None = None,
    tests: str | Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    correction: str | None = None,
    drift_share: float = 0.5,
) -> DriftReport:
    """Drift of each column of ``current`` against ``reference`` (rows or a ``ReferenceProfile``).

    ``columns`` default to the reference's testable columns. ``tests`` is a
    test name for every column, or column → name; ``"auto"`` (default) is
    :func:`~kiln.monitoring.choose_test`. ``thresholds`` override the
    default threshold per test name. ``correction`` (``"holm"``,
    ``"bonferroni"``, ``"fdr_bh"``) adjusts the hypothesis tests' p-values
    over the columns before comparing them with the threshold.
    """
    if not 0 < drift_share <= 1:
        raise InvalidInput(
            f"drift_share must be in (0, 1], got {drift_share!r}", field="drift_share"
        )
    for test in thresholds or {}:
        if test not in DEFAULT_THRESHOLDS:
            raise InvalidInput(f"unknown test {test!r} in thresholds", field="thresholds")
    profile, raw = _references(reference, columns)
    names = list(columns) if columns else [*profile.columns, *profile.skipped]
    table = as_table(current, field="current")
    limits = dict(thresholds or {})

    def one(name: str) -> ColumnDrift:
        if name in profile.skipped:
            return ColumnDrift(name, "unknown", None, False, skipped=profile.skipped[name])
        sketch = profile.column(name)
        why = _current_matches(name, sketch.kind, table)
        if why is not None:
            return ColumnDrift(name, sketch.kind, None, False, skipped=why)
        ref = _Reference(sketch, raw.column(name) if raw is not None else None)
        if isinstance(sketch, NumericSketch):
            return _numeric_drift(name, ref, table.column(name), tests, limits)
        return _categorical_drift(name, ref, table.column(name), tests, limits)

    found = dict(zip(names, parallel_map(one, names), strict=True))
    found = _correct(found, correction)
    checked = sum(1 for column in found.values() if column.result is not None)
    drifted = sum(1 for column in found.values() if column.drift)
    share = drifted / checked if checked else 0.0
    return DriftReport(
        found,
        share,
        drifted,
        checked,
        checked > 0 and share >= drift_share,
        correction,
        drift_share,
    )
