"""Data quality of current data measured against a reference profile.

Every problem is a :class:`Finding` rather than an exception, so a monitor
always produces its report: a column missing from the current data, a
column of the wrong type, all-null or constant columns, more nulls than the
reference had, values outside the reference's range (±inf included),
categories the reference never had, and an empty window.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from kiln.errors import InvalidInput
from kiln.monitoring._profiling import (
    as_table,
    categorical_column,
    drift_kind,
    numeric_column,
    parallel_map,
)
from kiln.monitoring._reference import CategoricalSketch, NumericSketch, ReferenceProfile

__all__ = ["Finding", "QualityLimits", "QualityReport", "check_quality"]

#: Unseen categories named in a finding; the rest are counted.
NAMED_UNSEEN = 10


@dataclass(frozen=True)
class QualityLimits:
    """When a measurement becomes a finding.

    ``null_increase``: the current null share exceeds the reference's by
    more than this (absolute). ``out_of_range``: more than this share of a
    numeric column lies outside the reference's ``[min, max]``.
    ``unseen_categories``: more than this share of a categorical column's
    values never occurred in the reference.
    """

    null_increase: float = 0.05
    out_of_range: float = 0.01
    unseen_categories: float = 0.0

    def __post_init__(self) -> None:
        for name in ("null_increase", "out_of_range", "unseen_categories"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise InvalidInput(f"{name} must be a share in [0, 1], got {value!r}", field=name)


@dataclass(frozen=True)
class Finding:
    """One data-quality problem; ``column`` is None for the table as a whole."""

    check: str
    severity: str
    column: str | None
    count: int
    share: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "column": self.column,
            "count": self.count,
            "share": self.share,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class QualityReport:
    """The findings, worst first, and per-column measurements."""

    rows: int
    findings: tuple[Finding, ...]
    columns: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def critical(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == "critical")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "findings": [finding.to_dict() for finding in self.findings],
            "columns": {name: dict(values) for name, values in self.columns.items()},
        }


def _share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _nulls(name: str, rows: int, missing: int, sketch: Any, limits: QualityLimits) -> list[Finding]:
    reference_share = _share(sketch.missing, sketch.missing + sketch.count)
    share = _share(missing, rows)
    if rows and missing == rows:
        return [Finding("all_null", "critical", name, missing, 1.0, "every value is missing")]
    if share > reference_share + limits.null_increase:
        detail = f"{share:.1%} missing against {reference_share:.1%} in the reference"
        return [Finding("null_share", "warning", name, missing, share, detail)]
    return []


def _numeric(
    name: str, column: pa.ChunkedArray, sketch: NumericSketch, limits: QualityLimits
) -> tuple[list[Finding], dict[str, Any]]:
    current = numeric_column(column)
    rows = len(column)
    values = current.sorted
    findings = _nulls(name, rows, current.missing, sketch, limits)
    below = int(np.searchsorted(values, sketch.min, side="left"))
    above = len(values) - int(np.searchsorted(values, sketch.max, side="right"))
    outside = below + above + current.infinite
    measured: dict[str, Any] = {
        "null_share": _share(current.missing, rows),
        "reference_null_share": _share(sketch.missing, sketch.missing + sketch.count),
        "min": float(values[0]) if len(values) else None,
        "max": float(values[-1]) if len(values) else None,
        "out_of_range": outside,
    }
    present = len(values) + current.infinite
    if present and _share(outside, present) > limits.out_of_range:
        parts = []
        if below:
            parts.append(f"{below:,} below the reference minimum {sketch.min:,.6g}")
        if above:
            parts.append(f"{above:,} above the reference maximum {sketch.max:,.6g}")
        if current.infinite:
            parts.append(f"{current.infinite:,} infinite")
        share = _share(outside, present)
        findings.append(Finding("out_of_range", "warning", name, outside, share, "; ".join(parts)))
    if len(values) > 1 and values[0] == values[-1] and sketch.min != sketch.max:
        detail = f"every value is {values[0]:,.6g}; the reference varied"
        findings.append(Finding("constant", "warning", name, len(values), 1.0, detail))
    return findings, measured


def _categorical(
    name: str, column: pa.ChunkedArray, sketch: CategoricalSketch, limits: QualityLimits
) -> tuple[list[Finding], dict[str, Any]]:
    current = categorical_column(column)
    rows = len(column)
    findings = _nulls(name, rows, current.missing, sketch, limits)
    known = set(sketch.categories)
    measured: dict[str, Any] = {
        "null_share": _share(current.missing, rows),
        "reference_null_share": _share(sketch.missing, sketch.missing + sketch.count),
        "unseen_categories": [],
    }
    if sketch.other == 0:
        unseen = [
            (v, c)
            for v, c in zip(current.values, current.counts.tolist(), strict=True)
            if v not in known
        ]
        unseen.sort(key=lambda item: -item[1])
        count = sum(c for _, c in unseen)
        present = int(current.counts.sum())
        measured["unseen_categories"] = [v for v, _ in unseen[:NAMED_UNSEEN]]
        if unseen and _share(count, present) > limits.unseen_categories:
            named = ", ".join(repr(v) for v, _ in unseen[:NAMED_UNSEEN])
            more = f" and {len(unseen) - NAMED_UNSEEN} more" if len(unseen) > NAMED_UNSEEN else ""
            detail = (
                f"{count:,} values of {len(unseen)} categories the reference never had: "
                f"{named}{more}"
            )
            findings.append(
                Finding("unseen_category", "warning", name, count, _share(count, present), detail)
            )
    if len(current.values) == 1 and sketch.distinct > 1:
        detail = f"every value is {current.values[0]!r}; the reference had {sketch.distinct}"
        present = int(current.counts.sum())
        findings.append(Finding("constant", "warning", name, present, 1.0, detail))
    return findings, measured


def _column(
    name: str, table: pa.Table, profile: ReferenceProfile, limits: QualityLimits
) -> tuple[list[Finding], dict[str, Any]]:
    sketch = profile.columns[name]
    if name not in table.column_names:
        return [
            Finding(
                "missing_column", "critical", name, table.num_rows, 1.0, "not in the current data"
            )
        ], {}
    data_type = table.schema.field(name).type
    kind = drift_kind(data_type)
    column = table.column(name)
    if sketch.kind == "numeric" and kind != "numeric":
        present = len(column) - column.null_count
        detail = f"the column is {data_type}; the reference is numeric"
        return [
            Finding("type_error", "critical", name, present, _share(present, len(column)), detail)
        ], {}
    if isinstance(sketch, NumericSketch):
        return _numeric(name, column, sketch, limits)
    assert isinstance(sketch, CategoricalSketch)
    return _categorical(name, column, sketch, limits)


SEVERITY_ORDER = {"critical": 0, "warning": 1}


def check_quality(
    profile: ReferenceProfile,
    current: Any,
    *,
    columns: list[str] | None = None,
    limits: QualityLimits | None = None,
    type_errors: Mapping[str, int] | None = None,
) -> QualityReport:
    """Findings for ``current`` against ``profile`` (by default over every profiled column).

    ``type_errors`` counts, per column, values the caller could not read as
    the column's type (the prediction log's JSON can mix types); each
    becomes a ``type_error`` finding.
    """
    limits = limits or QualityLimits()
    table = as_table(current, field="current")
    names = list(columns) if columns is not None else list(profile.columns)
    unknown = [name for name in names if name not in profile.columns]
    if unknown:
        raise InvalidInput(
            f"the reference profile has no column {', '.join(map(repr, unknown))}", field="columns"
        )
    if table.num_rows == 0:
        empty = Finding("empty_window", "warning", None, 0, 0.0, "no rows in the current data")
        return QualityReport(0, (empty,), {})
    results = parallel_map(lambda name: _column(name, table, profile, limits), names)
    findings: list[Finding] = []
    measured: dict[str, Mapping[str, Any]] = {}
    for name, (found, values) in zip(names, results, strict=True):
        findings.extend(found)
        if values:
            measured[name] = values
    for name, count in (type_errors or {}).items():
        if count:
            detail = f"{count:,} values could not be read as the column's type"
            findings.append(
                Finding(
                    "type_error", "critical", name, count, _share(count, table.num_rows), detail
                )
            )
    findings.sort(key=lambda f: (SEVERITY_ORDER.get(f.severity, 2), f.column or "", f.check))
    return QualityReport(table.num_rows, tuple(findings), measured)
