"""``Profile``: statistics of a table, per column, as plain data (JSON both ways).

The numbers are computed in ``_profiling.py``; this module holds only the
shapes, so ``import kiln.data`` needs neither NumPy nor Arrow.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Quantiles every numeric column records; the deciles also bound the PSI bins.
QUANTILES = (0.01, 0.05, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 0.95, 0.99)
DECILES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_BINS = 20
DEFAULT_TOP_K = 20

Scalar = int | float | str | bool | None


def quantile_key(q: float) -> str:
    return f"{q:g}"


@dataclass(frozen=True, slots=True)
class Histogram:
    """Counts between edges: ``counts[i]`` values fall in ``[edges[i], edges[i + 1])``.

    The display histogram's last bin also holds its upper edge (as NumPy's
    does). PSI bins have only inner edges: ``len(counts) == len(edges) + 1``,
    the outer bins open to ±infinity.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Histogram | None:
        if data is None:
            return None
        return cls(tuple(data["edges"]), tuple(data["counts"]))


@dataclass(frozen=True, slots=True)
class ColumnProfile:
    """One column's statistics; fields that do not apply to its kind are None or empty.

    ``kind`` is ``numeric``, ``categorical``, ``boolean``, ``temporal`` or
    ``other``. ``count`` excludes missing values; ``null_rate`` is the share
    of rows that are missing (null, or NaN in a float column). Numeric
    statistics cover the finite values; ``std`` is the sample standard
    deviation (``ddof=1``, as pandas). Temporal ``min``/``max`` are ISO text.
    ``top`` holds the most frequent values with their counts, most frequent
    first; ``other`` counts the rest.
    """

    name: str
    type: str
    kind: str
    count: int
    nulls: int
    null_rate: float
    distinct: int | None = None
    nan: int = 0
    infinite: int = 0
    min: Scalar = None
    max: Scalar = None
    mean: float | None = None
    std: float | None = None
    quantiles: Mapping[str, float] = field(default_factory=dict)
    histogram: Histogram | None = None
    psi_bins: Histogram | None = None
    top: tuple[tuple[Scalar, int], ...] = ()
    other: int = 0

    @property
    def complete_categories(self) -> bool:
        """Whether ``top`` lists every distinct value."""
        return self.distinct is not None and len(self.top) >= self.distinct

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "count": self.count,
            "nulls": self.nulls,
            "null_rate": self.null_rate,
            "distinct": self.distinct,
            "nan": self.nan,
            "infinite": self.infinite,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "quantiles": dict(self.quantiles),
            "histogram": self.histogram.to_dict() if self.histogram else None,
            "psi_bins": self.psi_bins.to_dict() if self.psi_bins else None,
            "top": [[value, count] for value, count in self.top],
            "other": self.other,
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        return cls(
            name=data["name"],
            type=data["type"],
            kind=data["kind"],
            count=data["count"],
            nulls=data["nulls"],
            null_rate=data["null_rate"],
            distinct=data.get("distinct"),
            nan=data.get("nan", 0),
            infinite=data.get("infinite", 0),
            min=data.get("min"),
            max=data.get("max"),
            mean=data.get("mean"),
            std=data.get("std"),
            quantiles=dict(data.get("quantiles") or {}),
            histogram=Histogram.from_dict(data.get("histogram")),
            psi_bins=Histogram.from_dict(data.get("psi_bins")),
            top=tuple((value, count) for value, count in data.get("top") or ()),
            other=data.get("other", 0),
        )


@dataclass(frozen=True, slots=True)
class Profile:
    """Statistics of a whole table: its row count and one :class:`ColumnProfile` per column.

    ``bins`` is the number of display-histogram bins and ``top_k`` how many
    frequent values categorical columns keep. ``dataset``/``version`` say
    which stored version it describes (None for data that is not stored).
    """

    num_rows: int
    columns: tuple[ColumnProfile, ...]
    bins: int = DEFAULT_BINS
    top_k: int = DEFAULT_TOP_K
    dataset: str | None = None
    version: int | None = None

    @property
    def num_columns(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def __getitem__(self, name: str) -> ColumnProfile:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"no column {name!r} in the profile; it has {', '.join(self.names)}")

    def __contains__(self, name: object) -> bool:
        return any(column.name == name for column in self.columns)

    def __iter__(self) -> Iterator[ColumnProfile]:
        return iter(self.columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "num_rows": self.num_rows,
            "bins": self.bins,
            "top_k": self.top_k,
            "dataset": self.dataset,
            "version": self.version,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Profile:
        return cls(
            num_rows=data["num_rows"],
            columns=tuple(ColumnProfile.from_dict(column) for column in data["columns"]),
            bins=data.get("bins", DEFAULT_BINS),
            top_k=data.get("top_k", DEFAULT_TOP_K),
            dataset=data.get("dataset"),
            version=data.get("version"),
        )

    def to_pandas(self) -> Any:
        """A summary table, one row per column: type, kind, counts, min, max, mean, std."""
        import pandas as pd

        keys = [
            "type",
            "kind",
            "count",
            "nulls",
            "null_rate",
            "distinct",
            "min",
            "max",
            "mean",
            "std",
        ]
        rows = {column.name: {key: getattr(column, key) for key in keys} for column in self}
        return pd.DataFrame.from_dict(rows, orient="index")
