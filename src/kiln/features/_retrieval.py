"""Historical retrieval: a training set from an entity dataframe and feature references.

Features are named ``view:feature`` (or by a ``FeatureService``); each view
named is read from its source, checked against its declaration, cut to the
columns asked for, and joined point-in-time (``_pit.py``). References
resolve against the project's definitions as the latest ``kiln features
apply`` left them, read on every call, or against the ``views`` passed.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, NotFound
from kiln.features._definitions import FeatureService, FeatureView
from kiln.features._on_demand import OnDemandFeatureView, on_demand_inputs
from kiln.features._pit import ViewRows, output_names, point_in_time_join, quote

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["AnyView", "as_utc", "historical_table", "range_entities", "resolve_features"]

AnyView = FeatureView | OnDemandFeatureView


def _close(wanted: str, known: Sequence[str]) -> str:
    matches = difflib.get_close_matches(wanted, known, n=3, cutoff=0.5)
    return f"; did you mean {', '.join(matches)}?" if matches else ""


def resolve_features(
    features: Sequence[str] | FeatureService, views: Sequence[AnyView]
) -> list[tuple[AnyView, list[str]]]:
    """Each view (plain or on-demand) asked for with its features, in order of first mention."""
    references = features.references() if isinstance(features, FeatureService) else features
    if isinstance(references, str) or not references:
        raise InvalidInput(
            "features must be a list of 'view:feature' references or a FeatureService",
            field="features",
        )
    by_name = {view.name: view for view in views}
    chosen: dict[str, list[str]] = {}
    for reference in references:
        name, colon, feature = str(reference).partition(":")
        if not colon:
            raise InvalidInput(
                f"feature reference {reference!r} is not 'view:feature'", field="features"
            )
        view = by_name.get(name)
        if view is None:
            raise NotFound(f"unknown feature view {name!r}{_close(name, list(by_name))}")
        if feature not in view.feature_names:
            raise NotFound(
                f"feature view {name!r} has no feature {feature!r}"
                f"{_close(feature, view.feature_names)}"
            )
        picked = chosen.setdefault(name, [])
        if feature not in picked:
            picked.append(feature)
    return [(by_name[name], picked) for name, picked in chosen.items()]


def _arrow(entity_df: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pd.DataFrame):
        from kiln.features._sources import arrow_of

        return arrow_of(entity_df)
    raise InvalidInput(
        f"entity_df must be a pandas DataFrame or an Arrow table, got {type(entity_df).__name__}",
        field="entity_df",
    )


def _view_rows(view: FeatureView, names: list[str]) -> ViewRows:
    table = view.read()
    needed = [*view.join_keys, view.event_timestamp, *names]
    if view.created_timestamp:
        needed.append(view.created_timestamp)
    return ViewRows(
        name=view.name,
        table=table.select(needed),
        join_keys=tuple(view.join_keys),
        event_timestamp=view.event_timestamp,
        features=tuple(names),
        created_timestamp=view.created_timestamp,
        ttl=view.ttl,
    )


def as_utc(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise InvalidInput(f"{name} must be a datetime, got {moment!r}", field=name)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def range_entities(
    rows: Sequence[ViewRows], start: datetime, end: datetime, timestamp: str
) -> pa.Table:
    """The entity rows of a retrieval without an entity dataframe.

    Every distinct (join keys, event timestamp) of the views' rows with
    ``start <= event <= end``, ordered by time then keys: the moments any of
    the features changed. All views must share their join keys.
    """
    import duckdb

    keys = rows[0].join_keys
    different = [r.name for r in rows if set(r.join_keys) != set(keys)]
    if different:
        raise InvalidInput(
            f"a retrieval over a time range needs views with the same join keys; "
            f"{rows[0].name!r} has {', '.join(keys)} but {', '.join(different)} differ: "
            "pass an entity dataframe instead",
            field="entity_df",
        )
    quoted = ", ".join(quote(key) for key in keys)
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        selects = []
        for index, view in enumerate(rows):
            connection.register(f"v{index}", view.table)
            event = f"CAST({quote(view.event_timestamp)} AS TIMESTAMPTZ)"
            selects.append(
                f"SELECT {quoted}, {event} AS {quote(timestamp)} FROM v{index} "
                f"WHERE {event} BETWEEN $start AND $end"
                + "".join(f" AND {quote(key)} IS NOT NULL" for key in keys)
            )
        query = (
            f"SELECT DISTINCT * FROM ({' UNION ALL '.join(selects)}) "
            f"ORDER BY {quote(timestamp)}, {quoted}"
        )
        table: pa.Table = connection.sql(
            query, params={"start": start, "end": end}
        ).to_arrow_table()
    finally:
        connection.close()
    return table


def historical_table(
    views: Sequence[FeatureView],
    features: Sequence[str] | FeatureService,
    entity_df: Any = None,
    *,
    on_demand: Sequence[OnDemandFeatureView] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    full_feature_names: bool = False,
    timestamp: str = "event_timestamp",
) -> pa.Table:
    """The point-in-time join of ``features`` onto ``entity_df``, or over ``[start, end]``."""
    chosen = resolve_features(features, [*views, *on_demand])
    output_names([(view.name, names) for view, names in chosen], full_names=full_feature_names)
    rows = [_view_rows(view, names) for view, names in chosen if isinstance(view, FeatureView)]
    derived = [(view, names) for view, names in chosen if isinstance(view, OnDemandFeatureView)]
    if entity_df is None:
        if start is None or end is None:
            raise InvalidInput(
                "give an entity dataframe, or start and end for every entity over a time range",
                field="entity_df",
            )
        low, high = as_utc(start, "start"), as_utc(end, "end")
        if low > high:
            raise InvalidInput(f"start {low} is after end {high}", field="start")
        inputs = [_view_rows(v, v.feature_names) for d, _ in derived for v in d.views]
        entity = range_entities(rows + inputs, low, high, timestamp)
    else:
        if start is not None or end is not None:
            raise InvalidInput(
                "start and end select entity rows when there is no entity dataframe; "
                "with one, filter the dataframe instead",
                field="start",
            )
        entity = _arrow(entity_df)
    joined = point_in_time_join(entity, rows, timestamp=timestamp, full_names=full_feature_names)
    for view, names in derived:
        computed = _on_demand_offline(entity, view, timestamp)
        for name in names:
            label = f"{view.name}__{name}" if full_feature_names else name
            joined = joined.append_column(label, computed.column(name))
    return joined


def _on_demand_offline(entity: pa.Table, view: OnDemandFeatureView, timestamp: str) -> pa.Table:
    """An on-demand view's features for each entity row: its inputs joined, then transformed."""
    inputs = point_in_time_join(
        entity,
        [_view_rows(source, source.feature_names) for source in view.views],
        timestamp=timestamp,
    )
    columns = {name: inputs.column(name) for name in inputs.column_names}
    return view.run(on_demand_inputs(view, columns))
