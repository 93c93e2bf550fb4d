"""The training/serving skew check: does the online store serve what training would read?

For a sample of entities of a feature view, the row the online store holds
is compared with the row historical retrieval picks for the same entity at
the same time (docs/features.md, "Skew check", states the rules):

- the time is the view's *watermark* (the end of its last completed
  materialization into this online store); for a push-sourced view, the
  entity's newest pushed event when that is later, since pushes go online
  at once;
- the entities sampled are those historical retrieval gives a value at that
  time (a row at most ``ttl`` old) — the keys a materialization up to the
  watermark writes — drawn with a seeded generator, so a check repeats;
- the offline row is found by ``point_in_time_join`` over the view's rows
  (latest event at or before the time, ties by created timestamp, then
  position), without the ttl, so its event time comes back with it;
- the online row is read raw (no ttl), so expiry never hides a difference.

A mismatch is ``value`` (same event time, a feature differs), ``stale``
(online holds an older row), ``unexpected_online`` (online holds a newer
row than the offline source knows) or ``missing_online`` (online holds no
row, or a row without that feature). The OnlineStore cannot list its keys,
so an online row for an entity the offline side does not serve is never
sampled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput
from kiln.features._definitions import FeatureView
from kiln.features._online_rows import decode_payload, encode_keys, from_micros, online_table
from kiln.features._pit import ViewRows, point_in_time_join, quote
from kiln.features._skew_report import SkewMismatch, SkewReport, ViewSkew
from kiln.features._sources import PushSource

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.features._online import OnlineStore
    from kiln.features._store import FeatureStore

__all__ = ["check_store", "check_view"]

_AS_OF = "__kiln_as_of"
_OFFLINE_EVENT = "__kiln_offline_event"
_POSITION = "__kiln_position"


# -- the check of a store ------------------------------------------------------------------


def _check_arguments(sample: Any, seed: Any, tolerance: Any) -> None:
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
        raise InvalidInput(
            f"sample must be a whole number of keys, at least 1; got {sample!r}", field="sample"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be a whole number >= 0; got {seed!r}", field="seed")
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise InvalidInput(
            f"tolerance must be a finite relative tolerance >= 0; got {tolerance!r}",
            field="tolerance",
        )


def _push_log(view: FeatureView) -> pa.Table | None:
    """The rows pushed to a push-sourced view (its log without the batch source); else None.

    Read apart from ``view.read()`` because only pushed rows went online at
    once; batch rows, like any source's, only through materialization.
    """
    if not isinstance(view.source, PushSource):
        return None
    table = replace(view.source, batch_source=None).read()
    return view.empty_table() if table.num_columns == 0 else table


def _unchecked(mark: datetime | None, log: pa.Table | None) -> str | None:
    """Why a view cannot be checked yet, or None."""
    if mark is not None:
        return None
    if log is None:
        return "never materialized into this online store; run `kiln features materialize` first"
    if log.num_rows == 0:
        return "nothing pushed or materialized yet"
    return None


def _named_view(store: FeatureStore, name: str) -> FeatureView:
    """The applied view ``name``; an on-demand one is refused, since nothing of it is online."""
    on_demand = store.definitions().on_demand.get(name)
    if on_demand is not None:
        sources = ", ".join(view.name for view in on_demand.views)
        raise InvalidInput(
            f"{name!r} is an on-demand feature view: it is computed at read time and nothing of "
            f"it is stored online; check the views it reads ({sources})",
            field="views",
        )
    return store.view(name)


def check_store(
    store: FeatureStore,
    views: Sequence[str] | None = None,
    *,
    sample: int = 100,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> SkewReport:
    """Check ``views`` (default: every applied one that was materialized or pushed to).

    A view named explicitly that cannot be checked yet is a ``Conflict``;
    with ``views=None`` it is listed in ``skipped`` instead, and it is a
    ``Conflict`` only when no view at all can be checked.
    """
    from kiln.config import mask_url
    from kiln.features._materialize import watermark

    _check_arguments(sample, seed, tolerance)
    explicit = bool(views)
    chosen = (
        [_named_view(store, name) for name in views or ()]
        if explicit
        else list(store.definitions().views.values())
    )
    store_name = mask_url(store.online_store_url)
    checked: list[ViewSkew] = []
    skipped: dict[str, str] = {}
    for view in chosen:
        mark = store.context.db.read(watermark, store.project, view.name, store_name)
        log = _push_log(view)
        reason = _unchecked(mark, log)
        if reason is not None:
            if explicit:
                raise Conflict(
                    f"feature view {view.name!r} cannot be checked for skew in {store_name}: "
                    f"{reason}"
                )
            skipped[view.name] = reason
            continue
        checked.append(
            check_view(
                store.online,
                online_table(store.project, view.name),
                view,
                mark,
                log=log,
                sample=sample,
                seed=seed,
                tolerance=tolerance,
            )
        )
    if not checked:
        raise Conflict(
            "nothing to check for skew: no feature view has been materialized into "
            f"{store_name} (or pushed to) yet; run `kiln features materialize` first"
        )
    return SkewReport(tuple(checked), sample, seed, float(tolerance), skipped)


# -- the check of one view -----------------------------------------------------------------


def check_view(
    store: OnlineStore,
    table_name: str,
    view: FeatureView,
    mark: datetime | None,
    *,
    log: pa.Table | None = None,
    sample: int = 100,
    seed: int = 0,
    tolerance: float = 1e-9,
) -> ViewSkew:
    """Compare ``sample`` entities of ``view`` online (in ``table_name``) and offline.

    ``mark`` is the view's watermark; ``log`` the rows pushed to it (a
    push-sourced view), whose newest event per entity is that entity's
    comparison time when later than the watermark.
    """
    source = view.read()
    population = _population(source, log, view, mark)
    chosen = _sample(population, sample, seed)
    names = tuple(view.feature_names)
    if chosen.num_rows == 0:
        return ViewSkew(view.name, mark, names, 0, (), ())
    keys = chosen.select(list(view.join_keys)).to_pylist()
    offline = _offline(source, view, chosen)
    expected = {f.name: _python_values(offline.column(f.name), f.dtype) for f in view.features}
    events = _python_values(offline.column(_OFFLINE_EVENT), "timestamp")
    online = _online(store, table_name, view, chosen)
    dtypes = {f.name: f.dtype for f in view.features}
    mismatches = [
        mismatch
        for index, key in enumerate(keys)
        for mismatch in _compare(
            view.name,
            key,
            dtypes,
            online[index],
            {name: values[index] for name, values in expected.items()},
            events[index],
            tolerance,
        )
    ]
    return ViewSkew(view.name, mark, names, population.num_rows, tuple(keys), tuple(mismatches))


def _population(
    source: pa.Table, log: pa.Table | None, view: FeatureView, mark: datetime | None
) -> pa.Table:
    """The entities offline gives a value at their comparison time, with it, ordered by keys.

    The comparison time is the watermark, or the entity's newest pushed
    event when later; an entity has a value then when its newest row at or
    before that time is at most ``ttl`` old — exactly the entities a
    materialization up to the watermark writes (pushes write any age).
    """
    import duckdb

    keys = ", ".join(quote(key) for key in view.join_keys)
    event = f"CAST({quote(view.event_timestamp)} AS TIMESTAMPTZ)"
    present = " AND ".join(f"{quote(key)} IS NOT NULL" for key in view.join_keys)
    columns = [*view.join_keys, view.event_timestamp]
    fresh = (
        f"HAVING max(r.event) >= t.as_of - to_microseconds({view.ttl // timedelta(microseconds=1)})"
        if view.ttl is not None
        else ""
    )
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("source_rows", source.select(columns))
        pushed = source.slice(0, 0) if log is None else log  # no pushes: the watermark only
        connection.register("pushed_rows", pushed.select(columns))
        table: pa.Table = connection.sql(
            f"WITH r AS (SELECT {keys}, {event} AS event FROM source_rows WHERE {present}), "
            f"p AS (SELECT {keys}, max({event}) AS pushed_at FROM pushed_rows GROUP BY {keys}), "
            f"t AS (SELECT {keys}, greatest(CAST($mark AS TIMESTAMPTZ), p.pushed_at) AS as_of "
            f"FROM (SELECT DISTINCT {keys} FROM r) LEFT JOIN p USING ({keys})) "
            f"SELECT {keys}, t.as_of AS {_AS_OF} FROM t JOIN r USING ({keys}) "
            f"WHERE t.as_of IS NOT NULL AND r.event <= t.as_of "
            f"GROUP BY {keys}, t.as_of {fresh} ORDER BY {keys}",
            params={"mark": mark},
        ).to_arrow_table()
    finally:
        connection.close()
    return table


def _sample(population: pa.Table, size: int, seed: int) -> pa.Table:
    """``size`` rows drawn without replacement by a generator seeded with ``seed``, in order."""
    import numpy as np

    if population.num_rows <= size:
        return population
    picked = np.random.default_rng(seed).choice(population.num_rows, size=size, replace=False)
    return population.take(np.sort(picked))


def _offline(source: pa.Table, view: FeatureView, chosen: pa.Table) -> pa.Table:
    """Each chosen entity's winning row at its comparison time, without the ttl.

    The source is first cut to the chosen entities' rows (in their source
    order, which breaks ties), so the join reads a few rows, not all.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = list(view.join_keys)
    quoted = ", ".join(quote(key) for key in keys)
    keyed = source.select(keys).append_column(
        _POSITION, pa.array(range(source.num_rows), pa.int64())
    )
    connection = duckdb.connect()
    try:
        connection.register("keyed", keyed)
        connection.register("chosen", chosen.select(keys))
        positions = connection.sql(
            f"SELECT {_POSITION} FROM keyed SEMI JOIN chosen USING ({quoted}) ORDER BY {_POSITION}"
        ).to_arrow_table()
    finally:
        connection.close()
    needed = [*keys, view.event_timestamp, *view.feature_names]
    if view.created_timestamp:
        needed.append(view.created_timestamp)
    rows = source.select(needed).take(positions.column(0))
    event = pc.cast(rows.column(view.event_timestamp), pa.timestamp("us", tz="UTC"), safe=False)
    rows = rows.append_column(_OFFLINE_EVENT, event)
    winners = ViewRows(
        name=view.name,
        table=rows,
        join_keys=tuple(keys),
        event_timestamp=view.event_timestamp,
        features=(*view.feature_names, _OFFLINE_EVENT),
        created_timestamp=view.created_timestamp,
        ttl=None,
    )
    return point_in_time_join(chosen, [winners], timestamp=_AS_OF)


def _python_values(column: pa.ChunkedArray, dtype: str) -> list[Any]:
    """Offline values as the online codec gives them back: UTC datetimes, NaN as None."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if dtype == "timestamp":
        column = pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)
    elif dtype == "float64":
        column = pc.if_else(pc.is_nan(column), None, column)
    values: list[Any] = column.to_pylist()
    return values


def _online(
    store: OnlineStore, table_name: str, view: FeatureView, chosen: pa.Table
) -> list[tuple[datetime, dict[str, Any]] | None]:
    """Each chosen entity's stored row, raw: its event time and its decoded features."""
    timestamps = [f.name for f in view.features if f.dtype == "timestamp"]
    floats = [f.name for f in view.features if f.dtype == "float64"]
    stored = store.read(table_name, encode_keys(chosen, list(view.join_keys)))
    return [
        None
        if item is None
        else (from_micros(item[0]), decode_payload(item[1], timestamps, floats))
        for item in stored
    ]


def _compare(
    view: str,
    key: dict[str, Any],
    dtypes: dict[str, str],
    online: tuple[datetime, dict[str, Any]] | None,
    offline: dict[str, Any],
    offline_event: datetime,
    tolerance: float,
) -> list[SkewMismatch]:
    """The mismatches of one entity: every feature when online holds another row, else per value."""
    at, values = (None, {}) if online is None else online
    if at is None:
        row_kind: str | None = "missing_online"
    elif at < offline_event:
        row_kind = "stale"
    elif at > offline_event:
        row_kind = "unexpected_online"
    else:
        row_kind = None
    found = []
    for feature, dtype in dtypes.items():
        wanted = offline[feature]
        kind = row_kind
        if kind is None:
            if feature not in values:
                if wanted is None:
                    continue  # a row predating the feature reads as null, as offline does
                kind = "missing_online"
            elif _same(values[feature], wanted, dtype, tolerance):
                continue
            else:
                kind = "value"
        found.append(
            SkewMismatch(view, key, feature, kind, values.get(feature), wanted, at, offline_event)
        )
    return found


def _same(online: Any, offline: Any, dtype: str, tolerance: float) -> bool:
    """Nulls equal nulls; floats within ``tolerance`` (relative); the rest exactly, same type."""
    if online is None or offline is None:
        return online is None and offline is None
    if dtype == "float64":
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in (online, offline)
        )
        return numbers and math.isclose(online, offline, rel_tol=tolerance, abs_tol=0.0)
    return type(online) is type(offline) and bool(online == offline)
