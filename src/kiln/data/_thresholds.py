"""Thresholds of the validation checks: fixed numbers, or learned from earlier validations.

A :class:`Learned` threshold is ``mean + max(k·std, margin)`` of what the same
check observed in the last ``window`` recorded validations of the dataset that
passed (one per version, the version being validated excluded). Until there
are ``min_history`` of them it uses ``fallback`` (default: the check's fixed
default). So thresholds tighten while the data is steady and loosen as
accepted versions vary more.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kiln.errors import InvalidInput

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Fixed:
    """A fixed upper limit on the check's observed value."""

    value: float
    severity: Severity = "error"

    def __post_init__(self) -> None:
        _check_number("Fixed.value", self.value)
        _check_severity(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "fixed", "value": self.value, "severity": self.severity}


@dataclass(frozen=True, slots=True)
class Learned:
    """An upper limit learned from history: ``mean + max(k·std, margin)`` of past observations."""

    k: float = 3.0
    min_history: int = 3
    window: int = 20
    margin: float = 0.0
    fallback: float | None = None
    severity: Severity = "error"

    def __post_init__(self) -> None:
        _check_number("Learned.k", self.k)
        _check_number("Learned.margin", self.margin)
        if self.fallback is not None:
            _check_number("Learned.fallback", self.fallback)
        if not isinstance(self.min_history, int) or self.min_history < 1:
            raise InvalidInput(
                f"Learned.min_history must be a whole number from 1, got {self.min_history!r}",
                field="thresholds",
            )
        if not isinstance(self.window, int) or self.window < self.min_history:
            raise InvalidInput(
                f"Learned.window must be a whole number of at least min_history "
                f"({self.min_history}), got {self.window!r}",
                field="thresholds",
            )
        _check_severity(self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "learned",
            "k": self.k,
            "min_history": self.min_history,
            "window": self.window,
            "margin": self.margin,
            "fallback": self.fallback,
            "severity": self.severity,
        }


Spec = Fixed | Learned


def _check_number(what: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise InvalidInput(f"{what} must be a number from 0, got {value!r}", field="thresholds")


def _check_severity(severity: Any) -> None:
    if severity not in ("error", "warning"):
        raise InvalidInput(
            f"severity must be 'error' or 'warning', got {severity!r}", field="thresholds"
        )


# Frozen, so one instance can be every Thresholds' default.
_OUT_OF_RANGE = Fixed(0.01)
_UNSEEN_CATEGORIES = Fixed(0.0)
_ROW_COUNT_DROP = Fixed(0.1)
_PSI = Fixed(0.2)
_CATEGORICAL_PSI = Fixed(0.2)

#: The default limit of each threshold (``null_rate``'s is the schema's ``max_null_rate``).
DEFAULT_LIMITS: dict[str, float] = {
    "out_of_range": _OUT_OF_RANGE.value,
    "unseen_categories": _UNSEEN_CATEGORIES.value,
    "row_count_drop": _ROW_COUNT_DROP.value,
    "psi": _PSI.value,
    "categorical_psi": _CATEGORICAL_PSI.value,
}
_LIMITED = ("null_rate", *DEFAULT_LIMITS)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The limit of each check that measures a rate or a distance (observed ≤ limit passes).

    - ``null_rate``: share of missing values per column (None: the schema's
      ``max_null_rate``, which is also the fallback of a learned one);
    - ``out_of_range``: share of a column's values outside the schema's min/max;
    - ``unseen_categories``: share of values outside the schema's categories;
    - ``row_count_drop``: share of the reference's row count that is missing
      (0.1: more than 10 % fewer rows fails);
    - ``psi`` / ``categorical_psi``: population stability index against the
      reference, numeric and categorical columns (0.1 small, 0.2 notable, 0.25+
      large shift).
    """

    null_rate: Spec | None = None
    out_of_range: Spec = _OUT_OF_RANGE
    unseen_categories: Spec = _UNSEEN_CATEGORIES
    row_count_drop: Spec = _ROW_COUNT_DROP
    psi: Spec = _PSI
    categorical_psi: Spec = _CATEGORICAL_PSI

    @classmethod
    def learned(
        cls, *, k: float = 3.0, min_history: int = 3, window: int = 20, margin: float = 0.0
    ) -> Thresholds:
        """Every threshold learned with the same settings, falling back to the defaults."""
        learned = Learned(k=k, min_history=min_history, window=window, margin=margin)
        return cls(null_rate=learned, **dict.fromkeys(DEFAULT_LIMITS, learned))

    def uses_history(self) -> bool:
        """Whether any threshold is learned (and validation must read the history)."""
        return any(isinstance(getattr(self, name), Learned) for name in _LIMITED)

    def to_dict(self) -> dict[str, Any]:
        return {
            name: (spec.to_dict() if (spec := getattr(self, name)) is not None else None)
            for name in _LIMITED
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """The inverse of :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise InvalidInput("thresholds must be a mapping", field="thresholds")
        unknown = sorted(set(data) - set(_LIMITED))
        if unknown:
            raise InvalidInput(
                f"unknown thresholds {', '.join(unknown)}; known: {', '.join(_LIMITED)}",
                field="thresholds",
            )
        specs: dict[str, Any] = {name: _spec(value) for name, value in data.items()}
        return cls(**{n: spec for n, spec in specs.items() if spec is not None or n == "null_rate"})


def _spec(data: Any) -> Spec | None:
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("kind") not in ("fixed", "learned"):
        raise InvalidInput(
            f"a threshold is {{'kind': 'fixed' | 'learned', ...}}, got {data!r}", field="thresholds"
        )
    options = {key: value for key, value in data.items() if key != "kind"}
    try:
        return Fixed(**options) if data["kind"] == "fixed" else Learned(**options)
    except TypeError as error:
        raise InvalidInput(f"bad threshold {data!r}: {error}", field="thresholds") from None


@dataclass(frozen=True, slots=True)
class Limit:
    """A resolved threshold: the number, whether history set it, and how it came about."""

    value: float
    learned: bool
    note: str
    severity: Severity


def resolve(spec: Spec, default: float, history: Sequence[float]) -> Limit:
    """The limit ``spec`` sets, given the check's fixed default and its past observations."""
    if isinstance(spec, Fixed):
        return Limit(spec.value, False, f"fixed at {spec.value:g}", spec.severity)
    past = [value for value in history if math.isfinite(value)][-spec.window :]
    fallback = spec.fallback if spec.fallback is not None else default
    if len(past) < spec.min_history:
        note = (
            f"fixed at {fallback:g} until {spec.min_history} earlier validations have passed "
            f"({len(past)} so far)"
        )
        return Limit(fallback, False, note, spec.severity)
    mean = statistics.fmean(past)
    std = statistics.stdev(past) if len(past) > 1 else 0.0
    value = mean + max(spec.k * std, spec.margin)
    note = (
        f"learned from {len(past)} earlier validations: mean {mean:.4g} + "
        f"max({spec.k:g}·std {std:.4g}, margin {spec.margin:g})"
    )
    return Limit(value, True, note, spec.severity)
