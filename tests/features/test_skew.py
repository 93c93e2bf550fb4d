"""The training/serving skew check over real online stores (SQLite, and Redis at 127.0.0.1:6379).

Each test materializes a real view, then damages one side on purpose —
an online row rewritten or removed through the ``OnlineStore`` interface,
a row added to the source after materialization — and checks that exactly
that damage is reported, of the right kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.features import (
    Definitions,
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
    PushSource,
    RequestSource,
    SkewReport,
    check_skew,
)
from kiln.features._online_rows import encode_key, online_table, to_micros

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WHEN = pa.timestamp("us", tz="UTC")
CUSTOMER = Entity("customer", {"customer_id": "int64"})
FEATURES = ["spend", "segment", "seen", "active"]


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def write_rows(path: Path, rows: list[dict[str, object]]) -> None:
    columns = ["customer_id", "event_timestamp", "created", *FEATURES]
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([r["customer_id"] for r in rows], pa.int64()),
                "event_timestamp": pa.array([r["event_timestamp"] for r in rows], WHEN),
                "created": pa.array([r.get("created", r["event_timestamp"]) for r in rows], WHEN),
                # float32: the online codec widens it exactly, so a clean check stays clean.
                "spend": pa.array([r["spend"] for r in rows], pa.float32()),
                "segment": [r["segment"] for r in rows],
                "seen": pa.array([r["seen"] for r in rows], pa.timestamp("ms")),  # naive: UTC
                "active": [r["active"] for r in rows],
            }
        ).select(columns),
        path,
    )


def row(customer: int, hours: float, spend: float | None, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "customer_id": customer,
        "event_timestamp": ago(hours),
        "spend": spend,
        "segment": f"s{customer}",
        "seen": ago(hours + 1).replace(tzinfo=None),
        "active": customer % 2 == 0,
    }
    return {**base, **extra}


#: 1 and 2 have rows inside the 24 h ttl at NOW; 3's newest row is 30 h old (never online);
#: 4's spend is null and 5's is NaN (both read as null online); 1 has a late correction.
ROWS = [
    row(1, 10, 1.1),
    row(1, 2, 2.2),
    row(1, 2, 9.9, created=ago(2) - timedelta(minutes=5)),  # an earlier version of that row
    row(2, 5, 3.3),
    row(3, 30, 4.4),
    row(4, 1, None),
    row(5, 3, float("nan")),
]


def stats_view(path: Path) -> FeatureView:
    return FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(path)),
        [
            Field("spend", "float64"),
            Field("segment", "string"),
            Field("seen", "timestamp"),
            Field("active", "bool"),
        ],
        created_timestamp="created",
        ttl=timedelta(hours=24),
    )


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(
    request: pytest.FixtureRequest, make_context: Callable[..., Context], sqlite_url: str
) -> Iterator[FeatureStore]:
    """A feature store of a fresh project, over each online store backend."""
    project = f"p{uuid.uuid4().hex[:10]}"
    if request.param == "redis":
        online = request.getfixturevalue("redis_url")
    else:
        online = f"sqlite:///{make_context().settings.home / 'online.db'}"
    context = make_context(database_url=sqlite_url, project=project, online_store_url=online)
    context.db.run(ensure_project, project)
    found = FeatureStore(context)
    yield found
    for view in found.definitions().views:
        found.online.drop(online_table(project, view))
    found.close()


@pytest.fixture
def materialized(store: FeatureStore, tmp_path: Path) -> FeatureStore:
    write_rows(tmp_path / "stats.parquet", ROWS)
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    store.materialize(end=NOW)
    return store


def overwrite(
    store: FeatureStore, customer: int, event: datetime, values: dict[str, object]
) -> None:
    """Write one online row directly, through the store interface and the row codec."""
    store.online.write(
        online_table(store.project, "customer_stats"),
        [(encode_key([customer]), to_micros(event), orjson.dumps(values))],
    )


def stored_values(store: FeatureStore, customer: int) -> dict[str, object]:
    (item,) = store.online.read(
        online_table(store.project, "customer_stats"), [encode_key([customer])]
    )
    assert item is not None
    found: dict[str, object] = orjson.loads(item[1])
    return found


def test_a_clean_materialization_has_no_skew(materialized: FeatureStore) -> None:
    report = materialized.check_skew()
    assert report.ok
    skew = report.view("customer_stats")
    # Customer 3's newest row was beyond the ttl at the watermark: not served, not sampled.
    assert skew.population == 4
    assert [key["customer_id"] for key in skew.keys] == [1, 2, 4, 5]
    assert skew.values_compared == 16
    assert skew.watermark == NOW
    assert skew.mismatches == ()
    assert skew.mismatch_rate == 0.0
    assert report.to_frame().empty
    body = report.to_dict()
    assert body["ok"] is True
    assert body["views"][0]["sampled"] == 4
    assert body["views"][0]["watermark"] == NOW.isoformat()


def test_a_corrupted_online_value_is_reported_as_value(materialized: FeatureStore) -> None:
    corrupted = {**stored_values(materialized, 2), "spend": 3.3000001}
    overwrite(materialized, 2, ago(5), corrupted)
    report = materialized.check_skew()
    assert not report.ok
    (mismatch,) = report.mismatches
    assert (mismatch.view, mismatch.key, mismatch.feature, mismatch.kind) == (
        "customer_stats",
        {"customer_id": 2},
        "spend",
        "value",
    )
    assert mismatch.online_value == 3.3000001
    assert mismatch.offline_value == pytest.approx(3.3, rel=1e-6)
    assert mismatch.online_event_timestamp == mismatch.offline_event_timestamp == ago(5)
    skew = report.view("customer_stats")
    assert (skew.mismatched_keys, skew.mismatch_rate) == (1, 1 / 16)
    assert skew.counts() == {"value": 1, "stale": 0, "missing_online": 0, "unexpected_online": 0}
    frame = report.to_frame()
    assert frame[["view", "customer_id", "feature", "kind"]].values.tolist() == [
        ["customer_stats", 2, "spend", "value"]
    ]
    # A looser tolerance accepts the difference (3e-8 relative).
    assert materialized.check_skew(tolerance=1e-6).ok


def test_other_types_compare_exactly(materialized: FeatureStore) -> None:
    values = stored_values(materialized, 1)
    overwrite(
        materialized,
        1,
        ago(2),
        {**values, "segment": "other", "seen": values["seen"] + 1, "active": 0, "spend": None},
    )
    report = materialized.check_skew()
    found = {m.feature: (m.online_value, m.offline_value) for m in report.mismatches}
    assert found == {
        "spend": (None, pytest.approx(2.2)),
        "segment": ("other", "s1"),
        "seen": (ago(3) + timedelta(microseconds=1), ago(3)),
        "active": (0, False),  # an integer is not a boolean
    }
    assert {m.kind for m in report.mismatches} == {"value"}


def test_a_late_arriving_row_reports_stale(materialized: FeatureStore, tmp_path: Path) -> None:
    # Customer 2 gets a row 4 h old (before the watermark) after materialization ran.
    write_rows(tmp_path / "stats.parquet", [*ROWS, row(2, 4, 7.7)])
    assert materialized.materialize_incremental(end=NOW) == []  # incremental never sees it
    report = materialized.check_skew()
    assert {m.kind for m in report.mismatches} == {"stale"}
    assert {m.key["customer_id"] for m in report.mismatches} == {2}
    assert [m.feature for m in report.mismatches] == FEATURES  # the whole row is outdated
    spend = next(m for m in report.mismatches if m.feature == "spend")
    assert spend.online_event_timestamp == ago(5)
    assert spend.offline_event_timestamp == ago(4)
    assert spend.offline_value == pytest.approx(7.7)
    # Materializing the range again repairs it.
    materialized.materialize(start=ago(6), end=NOW)
    assert materialized.check_skew().ok


def test_a_late_correction_of_the_same_event_reports_value(
    materialized: FeatureStore, tmp_path: Path
) -> None:
    write_rows(tmp_path / "stats.parquet", [*ROWS, row(1, 2, 5.5, created=ago(0))])
    (mismatch,) = materialized.check_skew().mismatches
    assert (mismatch.key, mismatch.feature, mismatch.kind) == ({"customer_id": 1}, "spend", "value")


def test_a_deleted_online_row_reports_missing_online(materialized: FeatureStore) -> None:
    table = online_table(materialized.project, "customer_stats")
    keys = [encode_key([customer]) for customer in (1, 2, 4, 5)]
    kept = [(k, item) for k, item in zip(keys, materialized.online.read(table, keys), strict=True)]
    materialized.online.drop(table)
    materialized.online.write(
        table, [(k, item[0], item[1]) for k, item in kept if item is not None and k != keys[2]]
    )
    report = materialized.check_skew()
    assert {(m.key["customer_id"], m.kind) for m in report.mismatches} == {(4, "missing_online")}
    assert len(report.mismatches) == 4
    assert all(m.online_event_timestamp is None for m in report.mismatches)


def test_an_online_row_newer_than_the_source_is_unexpected(materialized: FeatureStore) -> None:
    overwrite(materialized, 1, ago(1), stored_values(materialized, 1))
    report = materialized.check_skew()
    assert {(m.key["customer_id"], m.kind) for m in report.mismatches} == {(1, "unexpected_online")}


def test_a_feature_added_without_backfill_is_missing_online(
    materialized: FeatureStore, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    table = pq.read_table(path)
    pq.write_table(table.append_column("risk", pa.array([0.1] * table.num_rows)), path)
    base = stats_view(path)
    grown = FeatureView(
        base.name,
        base.entities,
        base.source,
        [*base.features, Field("risk", "float64")],
        created_timestamp="created",
        ttl=base.ttl,
    )
    materialized.apply(Definitions.of(grown))
    report = materialized.check_skew()
    assert {(m.feature, m.kind) for m in report.mismatches} == {("risk", "missing_online")}
    assert len(report.mismatches) == 4  # every served entity lacks it
    materialized.materialize(end=NOW)  # the backfill
    assert materialized.check_skew().ok


def test_sampling_is_seeded_and_bounded(materialized: FeatureStore) -> None:
    first = materialized.check_skew(sample=2, seed=7).view("customer_stats")
    again = materialized.check_skew(sample=2, seed=7).view("customer_stats")
    assert first.keys == again.keys
    assert len(first.keys) == 2
    assert first.population == 4
    seen = {
        tuple(
            k["customer_id"]
            for k in materialized.check_skew(sample=2, seed=s).view("customer_stats").keys
        )
        for s in range(10)
    }
    assert len(seen) > 1  # another seed draws other keys


def test_push_sourced_views_compare_at_the_newest_push(store: FeatureStore, tmp_path: Path) -> None:
    clicks = FeatureView(
        "clicks", [CUSTOMER], PushSource(str(tmp_path / "pushed")), [Field("count", "int64")]
    )
    store.apply(Definitions.of(clicks))
    with pytest.raises(Conflict, match="nothing pushed or materialized yet"):
        store.check_skew(["clicks"])
    # Pushed rows are newer than any watermark (there is none): compared as of each
    # entity's newest pushed event, found in the push log.
    store.push(
        "clicks",
        [
            {"customer_id": 1, "event_timestamp": ago(2), "count": 3},
            {"customer_id": 1, "event_timestamp": ago(1), "count": 4},
            {"customer_id": 2, "event_timestamp": ago(30), "count": 5},  # any age is pushed
        ],
    )
    report = store.check_skew(["clicks"])
    skew = report.view("clicks")
    assert report.ok
    assert skew.watermark is None
    assert [k["customer_id"] for k in skew.keys] == [1, 2]
    # A push that reached the log but not the online store (its write failed): stale.
    table = online_table(store.project, "clicks")
    keys = [encode_key([1]), encode_key([2])]
    before = store.online.read(table, keys)
    store.push("clicks", [{"customer_id": 1, "event_timestamp": ago(0.5), "count": 6}])
    store.online.drop(table)  # newest wins, so the older rows go back into an empty table
    store.online.write(
        table, [(k, item[0], item[1]) for k, item in zip(keys, before, strict=True) if item]
    )
    (mismatch,) = store.check_skew(["clicks"]).mismatches
    assert (mismatch.key, mismatch.kind, mismatch.online_value, mismatch.offline_value) == (
        {"customer_id": 1},
        "stale",
        4,
        6,
    )
    assert mismatch.offline_event_timestamp == ago(0.5)


def test_check_skew_refuses_what_it_cannot_check(store: FeatureStore, tmp_path: Path) -> None:
    write_rows(tmp_path / "stats.parquet", ROWS)
    stats = stats_view(tmp_path / "stats.parquet")
    share = OnDemandFeatureView(
        "spend_share",
        [stats, RequestSource("payment", [Field("amount", "float64")])],
        [Field("share", "float64")],
        _share,
    )
    store.apply(Definitions.of(stats, share))
    with pytest.raises(Conflict, match="nothing to check for skew"):
        store.check_skew()
    with pytest.raises(Conflict, match="never materialized into this online store"):
        store.check_skew(["customer_stats"])
    with pytest.raises(NotFound, match="did you mean customer_stats"):
        store.check_skew(["customer_stat"])
    with pytest.raises(InvalidInput, match="computed at read time") as on_demand:
        store.check_skew(["spend_share"])
    assert on_demand.value.field == "views"
    for bad in (0, -1, True, 2.5):
        with pytest.raises(InvalidInput, match="sample must be") as error:
            store.check_skew(sample=bad)  # type: ignore[arg-type]
        assert error.value.field == "sample"
    with pytest.raises(InvalidInput) as seed:
        store.check_skew(seed=-1)
    assert seed.value.field == "seed"
    for tolerance in (-1e-9, float("nan"), float("inf")):
        with pytest.raises(InvalidInput) as error:
            store.check_skew(tolerance=tolerance)
        assert error.value.field == "tolerance"


def _share(frame: object) -> object:  # never run: the view is only refused
    raise AssertionError


def test_unmaterialized_views_are_skipped_when_none_are_named(
    store: FeatureStore, tmp_path: Path
) -> None:
    write_rows(tmp_path / "stats.parquet", ROWS)
    clicks = FeatureView(
        "clicks", [CUSTOMER], PushSource(str(tmp_path / "pushed")), [Field("count", "int64")]
    )
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet"), clicks))
    store.materialize(["customer_stats"], end=NOW)
    report = check_skew(context=store.context)  # the SDK function, same store
    assert isinstance(report, SkewReport)
    assert [view.view for view in report.views] == ["customer_stats"]
    assert report.skipped == {"clicks": "nothing pushed or materialized yet"}


def test_infinities_survive_the_online_codec(store: FeatureStore, tmp_path: Path) -> None:
    write_rows(
        tmp_path / "stats.parquet",
        [row(1, 2, float("inf")), row(2, 2, float("-inf")), row(3, 2, 1.5)],
    )
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    store.materialize(end=NOW)
    found = store.get_online_features(
        [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}],
        ["customer_stats:spend"],
        now=NOW,
    )
    assert found.values["spend"] == [float("inf"), float("-inf"), 1.5]
    assert found.statuses["spend"] == ["present", "present", "present"]
    assert store.check_skew().ok
