"""Point-in-time joins: each entity row gets the feature values that were known at its time.

For every entity row and every feature view: among the view's rows with the
same join keys and an event timestamp ``<=`` the entity timestamp and ``>=``
the entity timestamp minus the view's ttl (both ends inclusive), the one with
the latest event timestamp; rows with the same event timestamp are ranked by
the created timestamp, latest first (then by position, later first). No such
row gives nulls and keeps the entity row. The output has exactly one row per
entity row, in input order, duplicates kept.

One DuckDB query over the Arrow tables (no copy in, no Python loop over
rows): per view, the rows of equal keys and event time are reduced to the
winning one, an ``ASOF LEFT JOIN`` finds the latest one at or before the
entity time, and the ttl nulls it when it is older than the window. Since
the ASOF match is the latest row at or before the entity time, an expired
match means every earlier row has expired too. Timestamps without a zone
are read as UTC.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from kiln.errors import InvalidInput
from kiln.features._definitions import arrow_family

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ROW", "ViewRows", "output_names", "point_in_time_join", "quote"]

#: Hidden column numbering the entity rows (the output's order).
ROW = "__kiln_row"
_POSITION = "__kiln_position"
_EVENT = "__kiln_event"


@dataclass(frozen=True, slots=True)
class ViewRows:
    """One feature view's rows and how to read them."""

    name: str
    table: pa.Table
    join_keys: tuple[str, ...]
    event_timestamp: str
    features: tuple[str, ...]
    created_timestamp: str | None = None
    ttl: timedelta | None = None


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _check_entity(entity: pa.Table, views: Sequence[ViewRows], timestamp: str) -> None:
    needed = [timestamp] + [key for view in views for key in view.join_keys]
    missing = sorted(set(needed) - set(entity.column_names))
    if missing:
        raise InvalidInput(
            f"the entity dataframe lacks {', '.join(missing)} (it has "
            f"{', '.join(entity.column_names) or 'no columns'}): give it the timestamp column "
            f"{timestamp!r} and the join keys of every view asked for",
            field="entity_df",
        )
    if arrow_family(entity.schema.field(timestamp).type) != "timestamp":
        raise InvalidInput(
            f"the entity dataframe's {timestamp!r} column holds "
            f"{entity.schema.field(timestamp).type}, not timestamps",
            field="entity_df",
        )


def _check_view(entity: pa.Table, view: ViewRows) -> None:
    schema = view.table.schema
    wanted = [*view.join_keys, view.event_timestamp, *view.features]
    if view.created_timestamp:
        wanted.append(view.created_timestamp)
    missing = [name for name in wanted if name not in schema.names]
    if missing:
        raise InvalidInput(
            f"feature view {view.name!r}: its source lacks {', '.join(missing)} (it has "
            f"{', '.join(schema.names)})",
            field="source",
        )
    for key in view.join_keys:
        expected, found = entity.schema.field(key).type, schema.field(key).type
        if arrow_family(expected) != arrow_family(found):
            raise InvalidInput(
                f"feature view {view.name!r}: join key {key!r} is {found} in its source but "
                f"{expected} in the entity dataframe; cast one of them",
                field="entity_df",
            )
    for column in filter(None, (view.event_timestamp, view.created_timestamp)):
        if arrow_family(schema.field(column).type) != "timestamp":
            raise InvalidInput(
                f"feature view {view.name!r}: column {column!r} holds "
                f"{schema.field(column).type}, not timestamps",
                field="source",
            )


def output_names(views: Sequence[tuple[str, Sequence[str]]], *, full_names: bool) -> list[str]:
    """The feature columns of ``(view, features)`` pairs, in order; collisions refused.

    Collisions are allowed when prefixed (``view__feature``) names are asked for.
    """
    names = [
        f"{view}__{feature}" if full_names else feature
        for view, features in views
        for feature in features
    ]
    clashes = sorted(name for name, count in Counter(names).items() if count > 1)
    if clashes:
        raise InvalidInput(
            f"feature names collide: {', '.join(clashes)}; ask for prefixed names "
            "(full_feature_names=True gives view__feature)",
            field="features",
        )
    return names


def point_in_time_join(
    entity: pa.Table,
    views: Sequence[ViewRows],
    *,
    timestamp: str = "event_timestamp",
    full_names: bool = False,
) -> pa.Table:
    """``entity`` with every view's features as of each row's ``timestamp`` (see the module)."""
    import duckdb
    import pyarrow as pa

    _check_entity(entity, views, timestamp)
    for view in views:
        _check_view(entity, view)
    names = output_names([(v.name, v.features) for v in views], full_names=full_names)
    clashing = sorted(set(names) & set(entity.column_names))
    if clashing:
        raise InvalidInput(
            f"the entity dataframe already has columns named like features: "
            f"{', '.join(clashing)}; rename them or ask for prefixed names",
            field="entity_df",
        )
    numbered = entity.append_column(ROW, pa.array(range(entity.num_rows), pa.int64()))
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("entity_rows", numbered)
        ctes = []
        selects = []
        joins = []
        at = f"CAST(e.{quote(timestamp)} AS TIMESTAMPTZ)"
        position = 0
        for index, view in enumerate(views):
            rows = view.table.append_column(
                _POSITION, pa.array(range(view.table.num_rows), pa.int64())
            )
            connection.register(f"view_rows_{index}", rows)
            keys = ", ".join(quote(key) for key in view.join_keys)
            newest = (
                f"{quote(view.created_timestamp)} DESC NULLS LAST, "
                if view.created_timestamp
                else ""
            )
            features = ", ".join(quote(feature) for feature in view.features)
            ctes.append(
                f"v{index} AS (SELECT {keys}, CAST({quote(view.event_timestamp)} AS TIMESTAMPTZ)"
                f" AS {_EVENT}, {features} FROM view_rows_{index} "
                f"WHERE {quote(view.event_timestamp)} IS NOT NULL "
                f"QUALIFY row_number() OVER (PARTITION BY {keys}, {quote(view.event_timestamp)}"
                f" ORDER BY {newest}{_POSITION} DESC) = 1)"
            )
            on = " AND ".join(f"e.{quote(key)} = f.{quote(key)}" for key in view.join_keys)
            fresh = (
                f"f.{_EVENT} >= {at} - to_microseconds({_microseconds(view.ttl)})"
                if view.ttl is not None
                else "TRUE"
            )
            picked = []
            for feature in view.features:
                picked.append(
                    f"CASE WHEN {fresh} THEN f.{quote(feature)} END AS {quote(names[position])}"
                )
                selects.append(f"j{index}.{quote(names[position])}")
                position += 1
            ctes.append(
                f"j{index} AS (SELECT e.{ROW}, {', '.join(picked)} FROM entity_rows e "
                f"ASOF LEFT JOIN v{index} f ON {on} AND {at} >= f.{_EVENT})"
            )
            joins.append(f"LEFT JOIN j{index} USING ({ROW})")
        entity_columns = ", ".join(f"e.{quote(name)}" for name in entity.column_names)
        query = (
            (f"WITH {', '.join(ctes)} " if ctes else "")
            + f"SELECT {', '.join([entity_columns, *selects])} FROM entity_rows e "
            + " ".join(joins)
            + f" ORDER BY e.{ROW}"
        )
        result: pa.Table = connection.sql(query).to_arrow_table()
    finally:
        connection.close()
    return result


def _microseconds(ttl: timedelta) -> int:
    if ttl < timedelta(0):
        raise InvalidInput(f"a ttl must not be negative, got {ttl}", field="ttl")
    return ttl // timedelta(microseconds=1)
