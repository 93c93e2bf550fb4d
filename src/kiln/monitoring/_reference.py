"""Reference profiles: what a drift check needs of the reference data, computed once.

A :class:`ReferenceProfile` holds, per column, a sketch small enough to
store as one JSON blob and exact enough that later checks never reload the
reference rows (evidently#506 asks for this):

* numeric columns (:class:`NumericSketch`): with at most ``EXACT_DISTINCT``
  distinct values, every value and its count, so the reference distribution
  is kept exactly; otherwise the reference's quantiles at ``QUANTILE_POINTS``
  evenly spaced levels, read as a distribution uniform between consecutive
  quantiles. Also the decile bins for PSI, the display histogram, moments
  and extremes.
* categorical columns (:class:`CategoricalSketch`): the count of each
  category, the ``MAX_CATEGORIES`` most frequent ones when there are more,
  and one count for the rest.

The numbers are computed in ``_profiling.py``; this module holds the shapes
and their JSON form only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput

__all__ = [
    "EXACT_DISTINCT",
    "MAX_CATEGORIES",
    "QUANTILE_POINTS",
    "CategoricalSketch",
    "NumericSketch",
    "ReferenceProfile",
]

#: A numeric column with at most this many distinct values is kept exactly.
EXACT_DISTINCT = 2000
#: Quantile levels 0, 1/2000, …, 1 of a numeric column with more distinct values.
QUANTILE_POINTS = 2001
#: Categories kept by name; the rest are counted together as ``other``.
MAX_CATEGORIES = 1000
#: The profile format's version, written into its JSON.
FORMAT = 1

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NumericSketch:
    """One numeric column of the reference.

    ``count`` finite values; ``missing`` nulls and NaNs; ``infinite`` ±inf
    values (left out of every statistic). Exactly one of ``values``
    (with ``counts``) or ``quantiles`` is set. ``psi_edges`` are the inner
    edges of the decile bins and ``psi_counts`` the reference's counts in the
    ``len(psi_edges) + 1`` bins (outer bins open). ``hist_edges`` and
    ``hist_counts`` are a 20-bin display histogram over ``[min, max]``.
    ``integer`` says the column held integers. ``median`` and ``mad`` (the
    median absolute deviation from it, unscaled) give robust z-scores for
    outliers.
    """

    count: int
    missing: int
    infinite: int
    integer: bool
    min: float
    max: float
    mean: float
    std: float
    median: float
    mad: float
    psi_edges: tuple[float, ...]
    psi_counts: tuple[int, ...]
    hist_edges: tuple[float, ...]
    hist_counts: tuple[int, ...]
    values: tuple[float, ...] | None = None
    counts: tuple[int, ...] | None = None
    quantiles: tuple[float, ...] | None = None
    kind: str = field(default="numeric", init=False)

    @property
    def exact(self) -> bool:
        return self.values is not None

    def quantile_function(self) -> tuple[FloatArray, FloatArray]:
        """Knots ``(u, q)`` of the reference's quantile function, linear between knots.

        Exact sketches give a step function: each value ``v`` with cumulative
        shares ``c0 < c1`` contributes knots ``(c0, v)`` and ``(c1, v)``.
        """
        if self.values is not None and self.counts is not None:
            values = np.asarray(self.values, dtype=np.float64)
            shares = np.cumsum(np.asarray(self.counts, dtype=np.float64)) / self.count
            starts = np.concatenate(([0.0], shares[:-1]))
            u = np.column_stack((starts, shares)).ravel()
            q = np.repeat(values, 2)
            return u, q
        q = np.asarray(self.quantiles, dtype=np.float64)
        return np.linspace(0.0, 1.0, q.size), q

    def to_dict(self) -> dict[str, Any]:
        found = {
            "kind": "numeric",
            "count": self.count,
            "missing": self.missing,
            "infinite": self.infinite,
            "integer": self.integer,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "median": self.median,
            "mad": self.mad,
            "psi_edges": list(self.psi_edges),
            "psi_counts": list(self.psi_counts),
            "hist_edges": list(self.hist_edges),
            "hist_counts": list(self.hist_counts),
        }
        if self.values is not None:
            found["values"] = list(self.values)
            found["counts"] = list(self.counts or ())
        else:
            found["quantiles"] = list(self.quantiles or ())
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NumericSketch:
        exact = "values" in data
        return cls(
            count=int(data["count"]),
            missing=int(data["missing"]),
            infinite=int(data.get("infinite", 0)),
            integer=bool(data["integer"]),
            min=float(data["min"]),
            max=float(data["max"]),
            mean=float(data["mean"]),
            std=float(data["std"]),
            median=float(data["median"]),
            mad=float(data["mad"]),
            psi_edges=tuple(float(v) for v in data["psi_edges"]),
            psi_counts=tuple(int(v) for v in data["psi_counts"]),
            hist_edges=tuple(float(v) for v in data["hist_edges"]),
            hist_counts=tuple(int(v) for v in data["hist_counts"]),
            values=tuple(float(v) for v in data["values"]) if exact else None,
            counts=tuple(int(v) for v in data["counts"]) if exact else None,
            quantiles=None if exact else tuple(float(v) for v in data["quantiles"]),
        )


@dataclass(frozen=True)
class CategoricalSketch:
    """One categorical column: ``categories`` (text) with their ``counts``, most frequent first.

    ``other`` counts the values beyond the ``MAX_CATEGORIES`` kept;
    ``distinct`` is the number of distinct values seen, kept or not.
    """

    count: int
    missing: int
    distinct: int
    categories: tuple[str, ...]
    counts: tuple[int, ...]
    other: int
    kind: str = field(default="categorical", init=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "categorical",
            "count": self.count,
            "missing": self.missing,
            "distinct": self.distinct,
            "categories": list(self.categories),
            "counts": list(self.counts),
            "other": self.other,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalSketch:
        return cls(
            count=int(data["count"]),
            missing=int(data["missing"]),
            distinct=int(data["distinct"]),
            categories=tuple(str(v) for v in data["categories"]),
            counts=tuple(int(v) for v in data["counts"]),
            other=int(data["other"]),
        )


Sketch = NumericSketch | CategoricalSketch


@dataclass(frozen=True)
class ReferenceProfile:
    """Sketches of a reference table's columns, and where the table came from.

    ``source`` describes the reference (``{"kind": "dataset_version", "name":
    "fraud@3"}``, ``{"kind": "run", ...}``, ``{"kind": "rows"}``);
    ``skipped`` names the columns left out and why (a temporal or nested
    type has no drift test).
    """

    rows: int
    columns: Mapping[str, Sketch]
    source: Mapping[str, Any] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Sketch:
        try:
            return self.columns[name]
        except KeyError:
            known = ", ".join(sorted(self.columns)) or "none"
            raise InvalidInput(
                f"the reference profile has no column {name!r} (it has: {known})", field="columns"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kiln_reference_profile": FORMAT,
            "rows": self.rows,
            "source": dict(self.source),
            "skipped": dict(self.skipped),
            "columns": {name: sketch.to_dict() for name, sketch in self.columns.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceProfile:
        if data.get("kiln_reference_profile") != FORMAT:
            raise InvalidInput(
                "not a Kiln reference profile (format "
                f"{data.get('kiln_reference_profile')!r}, expected {FORMAT})",
                field="profile",
            )
        columns: dict[str, Sketch] = {}
        for name, sketch in data["columns"].items():
            columns[name] = (
                NumericSketch.from_dict(sketch)
                if sketch["kind"] == "numeric"
                else CategoricalSketch.from_dict(sketch)
            )
        return cls(
            rows=int(data["rows"]),
            columns=columns,
            source=dict(data.get("source", {})),
            skipped=dict(data.get("skipped", {})),
        )
