"""``Schema``: the expectations a dataset's versions should meet, inferred or written by hand.

Each :class:`ColumnExpectation` names a column and what it should hold: its
type, whether it may be missing and how often, its range, its category set,
its uniqueness. :func:`infer_from_profile` reads them off a reference
profile; edit the result with :meth:`Schema.replace_column` or build one by
hand. Both ways go through JSON with ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kiln.data._profile import Profile, Scalar
from kiln.errors import InvalidInput

DEFAULT_MAX_CATEGORIES = 20
DEFAULT_NULL_RATE_MARGIN = 0.05


@dataclass(frozen=True, slots=True)
class ColumnExpectation:
    """What one column should hold; ``None`` leaves that aspect unchecked.

    ``type`` is the logical Arrow type (``int64``, ``double``, ``string``,
    ``timestamp[us, tz=UTC]``, ``dictionary<string>``…); string widths and
    dictionary encoding do not matter when comparing. ``nullable=False`` means
    no value may be missing; otherwise ``max_null_rate`` bounds the share of
    missing values. ``min``/``max`` bound the values (ISO text for times),
    ``categories`` lists every allowed value, ``unique`` forbids duplicates.
    """

    name: str
    type: str
    nullable: bool = True
    max_null_rate: float | None = None
    min: Scalar = None
    max: Scalar = None
    categories: tuple[Scalar, ...] | None = None
    unique: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "nullable": self.nullable,
            "max_null_rate": self.max_null_rate,
            "min": self.min,
            "max": self.max,
            "categories": None if self.categories is None else list(self.categories),
            "unique": self.unique,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnExpectation:
        try:
            categories = data.get("categories")
            return cls(
                name=str(data["name"]),
                type=str(data["type"]),
                nullable=bool(data.get("nullable", True)),
                max_null_rate=data.get("max_null_rate"),
                min=data.get("min"),
                max=data.get("max"),
                categories=None if categories is None else tuple(categories),
                unique=bool(data.get("unique", False)),
            )
        except (KeyError, TypeError) as error:
            raise InvalidInput(
                f"a column expectation needs at least 'name' and 'type', got {dict(data)!r} "
                f"({error})",
                field="schema",
            ) from None


@dataclass(frozen=True, slots=True)
class Schema:
    """The expectations for a dataset, one per column, in order.

    ``dataset``/``version`` say which version it was inferred from (if any);
    learned thresholds read the validation history of ``dataset`` when the
    validated data is not itself a stored version. Columns the schema does not
    name give a warning, or an error when ``allow_extra_columns`` is False.
    """

    columns: tuple[ColumnExpectation, ...]
    dataset: str | None = None
    version: int | None = None
    allow_extra_columns: bool = True

    def __getitem__(self, name: str) -> ColumnExpectation:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"the schema has no column {name!r}; it has {', '.join(self.names)}")

    def __iter__(self) -> Iterator[ColumnExpectation]:
        return iter(self.columns)

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def replace_column(self, name: str, **changes: Any) -> Schema:
        """A copy with column ``name``'s expectation changed (``max=100, unique=True``)."""
        self[name]  # KeyError naming the columns when unknown
        columns = tuple(
            dataclasses.replace(column, **changes) if column.name == name else column
            for column in self.columns
        )
        return dataclasses.replace(self, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "version": self.version,
            "allow_extra_columns": self.allow_extra_columns,
            "columns": [column.to_dict() for column in self.columns],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        if not isinstance(data, Mapping) or not isinstance(data.get("columns"), list):
            raise InvalidInput(
                "a schema is a mapping with a 'columns' list (what Schema.to_dict() returns)",
                field="schema",
            )
        return cls(
            columns=tuple(ColumnExpectation.from_dict(column) for column in data["columns"]),
            dataset=data.get("dataset"),
            version=data.get("version"),
            allow_extra_columns=bool(data.get("allow_extra_columns", True)),
        )


def infer_from_profile(
    profile: Profile,
    *,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    null_rate_margin: float = DEFAULT_NULL_RATE_MARGIN,
) -> Schema:
    """Expectations that ``profile``'s data meets, as strictly as it suggests.

    - ``nullable`` when values were missing, with ``max_null_rate`` = the
      observed rate + ``null_rate_margin`` (capped at 1);
    - ``min``/``max`` = the observed extremes (numbers and times);
    - ``categories`` for string, dictionary and other categorical columns
      with at most ``max_categories`` distinct values (all of them seen in
      the profile);
    - ``unique`` for integer and string columns whose values all differ and
      that have no category set.
    """
    if max_categories > profile.top_k:
        raise InvalidInput(
            f"max_categories={max_categories} needs a profile keeping at least that many "
            f"values per column; this one keeps top_k={profile.top_k}",
            field="max_categories",
        )
    columns = []
    for column in profile:
        missing = column.nulls + column.nan
        categories = None
        if (
            column.kind == "categorical"
            and column.complete_categories
            and column.distinct is not None
            and column.distinct <= max_categories
        ):
            categories = tuple(sorted((value for value, _ in column.top), key=_sort_key))
        integer = column.kind == "numeric" and column.type.startswith(("int", "uint"))
        unique = (
            categories is None
            and (integer or column.kind == "categorical")
            and column.count > 0
            and column.distinct == column.count
        )
        ranged = column.kind in ("numeric", "temporal")
        columns.append(
            ColumnExpectation(
                name=column.name,
                type=column.type,
                nullable=missing > 0,
                max_null_rate=min(1.0, column.null_rate + null_rate_margin) if missing else 0.0,
                min=column.min if ranged else None,
                max=column.max if ranged else None,
                categories=categories,
                unique=unique,
            )
        )
    return Schema(tuple(columns), dataset=profile.dataset, version=profile.version)


def _sort_key(value: Scalar) -> tuple[str, Any]:
    return (type(value).__name__, value)
