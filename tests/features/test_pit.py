"""The point-in-time join against hand-worked cases and, by property, a plain reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.errors import InvalidInput
from kiln.features._pit import ViewRows, point_in_time_join

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def table(**columns: list[Any]) -> pa.Table:
    return pa.table(columns)


def customers(ttl: timedelta | None = timedelta(hours=4)) -> ViewRows:
    rows = table(
        customer_id=[1, 1, 1, 2, 1],
        event_time=[at(1), at(3), at(3), at(0), at(10)],
        created=[at(1), at(4), at(3.5), at(0), at(10)],
        spend=[10.0, 30.0, 20.0, 90.0, 100.0],
    )
    return ViewRows("customer", rows, ("customer_id",), "event_time", ("spend",), "created", ttl)


def joined(entity: pa.Table, *views: ViewRows, **options: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = point_in_time_join(entity, list(views), **options).to_pylist()
    return result


def test_the_latest_row_at_or_before_wins_and_ties_go_to_the_latest_created() -> None:
    entity = table(customer_id=[1, 1, 1], event_timestamp=[at(0.5), at(2), at(5)])

    spend = [row["spend"] for row in joined(entity, customers())]

    # before any row → null; at 2h the 1h row; at 5h the 3h rows tie, created 4h beats 3.5h
    assert spend == [None, 10.0, 30.0]


def test_both_ends_of_the_ttl_window_are_inclusive() -> None:
    entity = table(
        customer_id=[1, 1, 1, 1],
        event_timestamp=[
            at(3),
            at(7),
            at(
                7,
            )
            + timedelta(microseconds=1),
            at(10),
        ],
    )

    spend = [row["spend"] for row in joined(entity, customers(timedelta(hours=4)))]

    # exactly at the event time; exactly ttl later; a microsecond past the ttl; the 10h row
    assert spend == [30.0, 30.0, None, 100.0]


def test_no_ttl_reaches_back_forever() -> None:
    entity = table(customer_id=[2], event_timestamp=[at(1_000)])

    assert joined(entity, customers(ttl=None))[0]["spend"] == 90.0


def test_one_row_per_entity_row_in_order_with_duplicates_and_missing_keys_kept() -> None:
    entity = table(
        customer_id=[3, 1, 1, None, 2, 1],
        event_timestamp=[at(5), at(5), at(5), at(5), at(2), at(2)],
        label=["a", "b", "c", "d", "e", "f"],
    )

    rows = joined(entity, customers())

    assert [row["label"] for row in rows] == ["a", "b", "c", "d", "e", "f"]
    assert [row["spend"] for row in rows] == [None, 30.0, 30.0, None, 90.0, 10.0]
    assert [row["customer_id"] for row in rows] == [3, 1, 1, None, 2, 1]


def test_several_views_with_their_own_join_keys() -> None:
    merchants = ViewRows(
        "merchant",
        table(merchant_id=["m1", "m1"], updated=[at(0), at(4)], risk=[0.1, 0.9]),
        ("merchant_id",),
        "updated",
        ("risk",),
    )
    entity = table(customer_id=[1, 1], merchant_id=["m1", "m1"], event_timestamp=[at(2), at(5)])

    rows = joined(entity, customers(), merchants)

    assert [(row["spend"], row["risk"]) for row in rows] == [(10.0, 0.1), (30.0, 0.9)]


def test_colliding_feature_names_need_prefixes() -> None:
    other = customers()
    twin = ViewRows("twin", other.table, other.join_keys, "event_time", ("spend",), "created")
    entity = table(customer_id=[1], event_timestamp=[at(5)])

    with pytest.raises(InvalidInput, match=r"feature names collide: spend; .*full_feature_names"):
        joined(entity, other, twin)
    rows = joined(entity, other, twin, full_names=True)
    assert rows[0]["customer__spend"] == 30.0
    assert rows[0]["twin__spend"] == 30.0


def test_naive_timestamps_are_read_as_utc() -> None:
    entity = table(customer_id=[1], event_timestamp=[datetime(2026, 1, 1, 5)])

    assert joined(entity, customers())[0]["spend"] == 30.0


def test_an_entity_dataframe_without_its_columns_says_what_is_missing() -> None:
    with pytest.raises(InvalidInput, match="lacks customer_id, event_timestamp") as caught:
        joined(table(user=[1]), customers())
    assert caught.value.field == "entity_df"
    not_times = table(customer_id=[1], event_timestamp=["yesterday"])
    with pytest.raises(InvalidInput, match="'event_timestamp' column holds string"):
        joined(not_times, customers())


def test_a_source_without_a_declared_column_or_with_another_key_type_is_refused() -> None:
    view = customers()
    broken = ViewRows(
        "customer",
        view.table.drop_columns(["spend"]),
        ("customer_id",),
        "event_time",
        ("spend",),
        "created",
    )
    entity = table(customer_id=[1], event_timestamp=[at(5)])
    with pytest.raises(InvalidInput, match="feature view 'customer': its source lacks spend"):
        joined(entity, broken)
    text_keys = table(customer_id=["1"], event_timestamp=[at(5)])
    with pytest.raises(InvalidInput, match="join key 'customer_id' is int64 in its source but"):
        joined(text_keys, view)


# --- property: DuckDB against a plain reference --------------------------------------


def reference(
    entity: list[tuple[int, datetime]],
    rows: list[tuple[int, datetime, datetime, int]],
    ttl: timedelta | None,
) -> list[int | None]:
    """The definition, row by row: latest event <= t and >= t - ttl; ties by created, then later."""
    found = []
    for key, moment in entity:
        best = None
        for position, (row_key, event, created, value) in enumerate(rows):
            if row_key != key or event > moment:
                continue
            if ttl is not None and event < moment - ttl:
                continue
            rank = (event, created, position)
            if best is None or rank > best[0]:
                best = (rank, value)
        found.append(None if best is None else best[1])
    return found


hours = st.integers(min_value=0, max_value=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feature_rows=st.lists(
        st.tuples(st.integers(0, 3), hours, hours, st.integers(-50, 50)), max_size=25
    ),
    entity_rows=st.lists(st.tuples(st.integers(0, 4), hours), min_size=1, max_size=25),
    ttl_hours=st.one_of(st.none(), st.integers(0, 6)),
)
def test_duckdb_agrees_with_the_reference(
    feature_rows: list[tuple[int, int, int, int]],
    entity_rows: list[tuple[int, int]],
    ttl_hours: int | None,
) -> None:
    rows = [(key, at(event), at(created), value) for key, event, created, value in feature_rows]
    entity = [(key, at(moment)) for key, moment in entity_rows]
    when = pa.timestamp("us", tz="UTC")
    source = pa.table(
        {
            "key": pa.array([r[0] for r in rows], pa.int64()),
            "event": pa.array([r[1] for r in rows], when),
            "created": pa.array([r[2] for r in rows], when),
            "value": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    entity_table = pa.table(
        {
            "key": pa.array([e[0] for e in entity], pa.int64()),
            "event_timestamp": pa.array([e[1] for e in entity], when),
        }
    )
    ttl = None if ttl_hours is None else timedelta(hours=ttl_hours)
    view = ViewRows("v", source, ("key",), "event", ("value",), "created", ttl)

    got = point_in_time_join(entity_table, [view])

    assert got.column("value").to_pylist() == reference(entity, rows, ttl)
    assert got.column("key").to_pylist() == [e[0] for e in entity]
