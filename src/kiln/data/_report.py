"""``ValidationReport``: the checks one validation ran, with their verdicts.

A check that fails with severity ``error`` fails the report; ``warning``
checks are reported but never fail it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# The checks, by name (see docs/data.md, "Validation").
COLUMN_PRESENT = "column_present"
UNEXPECTED_COLUMN = "unexpected_column"
TYPE = "type"
NOT_NULL = "not_null"
NULL_RATE = "null_rate"
RANGE = "range"
CATEGORIES = "categories"
UNIQUE = "unique"
ROW_COUNT = "row_count"
PSI = "psi"
CATEGORICAL_PSI = "categorical_psi"

#: Checks whose observed value is a rate or distance that learned thresholds learn from.
LEARNABLE = (NULL_RATE, RANGE, CATEGORIES, ROW_COUNT, PSI, CATEGORICAL_PSI)


@dataclass(frozen=True, slots=True)
class Check:
    """One check: what it measured (``observed``), against what (``threshold``), and the verdict.

    ``column`` is None for table-level checks (``row_count``). ``learned``
    says the threshold came from the dataset's validation history.
    ``distribution`` holds the bins of a drift check (``labels``, and the
    ``reference`` and ``current`` shares) for plotting.
    """

    name: str
    column: str | None
    passed: bool
    observed: Any
    threshold: Any
    detail: str
    severity: str = "error"
    learned: bool = False
    distribution: Mapping[str, Any] | None = None

    @property
    def failed(self) -> bool:
        """Failed with severity ``error`` (what fails a report)."""
        return not self.passed and self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "passed": self.passed,
            "observed": self.observed,
            "threshold": self.threshold,
            "detail": self.detail,
            "severity": self.severity,
            "learned": self.learned,
            "distribution": None if self.distribution is None else dict(self.distribution),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            name=data["name"],
            column=data.get("column"),
            passed=bool(data["passed"]),
            observed=data.get("observed"),
            threshold=data.get("threshold"),
            detail=data.get("detail", ""),
            severity=data.get("severity", "error"),
            learned=bool(data.get("learned", False)),
            distribution=data.get("distribution"),
        )


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of :func:`kiln.data.validate`: every check that ran, and the verdict.

    ``dataset``/``version``/``version_id`` name the validated version when it
    is stored; ``reference`` names what it was compared with. ``id`` is the
    record's id when the validation was recorded (learned thresholds read
    recorded validations).
    """

    checks: tuple[Check, ...]
    num_rows: int
    dataset: str | None = None
    version: int | None = None
    version_id: str | None = None
    reference: str | None = None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int | None = None

    @property
    def passed(self) -> bool:
        """True when no check of severity ``error`` failed."""
        return not any(check.failed for check in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    @property
    def warnings(self) -> list[Check]:
        return [check for check in self.checks if not check.passed and not check.failed]

    def check(self, name: str, column: str | None = None) -> Check:
        """The check called ``name`` (on ``column``); ``KeyError`` when it did not run."""
        for check in self.checks:
            if check.name == name and check.column == column:
                return check
        raise KeyError(f"no check {name!r} on column {column!r} in this report")

    def __str__(self) -> str:
        subject = f"{self.dataset}@{self.version}" if self.dataset else "data"
        verdict = "passed" if self.passed else f"FAILED ({len(self.failures)} checks)"
        lines = [f"validation of {subject} ({self.num_rows} rows): {verdict}"]
        lines += [
            f"  {check.name}[{check.column or '*'}]: {check.detail}"
            for check in (*self.failures, *self.warnings)
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "num_rows": self.num_rows,
            "dataset": self.dataset,
            "version": self.version,
            "version_id": self.version_id,
            "reference": self.reference,
            "created_at": self.created_at.isoformat(),
            "id": self.id,
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ValidationReport:
        return cls(
            checks=tuple(Check.from_dict(check) for check in data["checks"]),
            num_rows=data["num_rows"],
            dataset=data.get("dataset"),
            version=data.get("version"),
            version_id=data.get("version_id"),
            reference=data.get("reference"),
            created_at=datetime.fromisoformat(data["created_at"]),
            id=data.get("id"),
        )

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The report as one self-contained HTML page (no scripts, no CDN); written to ``path``."""
        from kiln.data._html import render

        page = render(self)
        if path is not None:
            Path(path).write_text(page, encoding="utf-8")
        return page
