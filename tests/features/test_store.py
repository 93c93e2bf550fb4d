"""The feature store end to end: apply, materialize, online reads, push, backfill.

Real sources (Parquet files), a real metadata store and real online stores
(SQLite, and Redis at 127.0.0.1:6379), through ``FeatureStore``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.features import (
    Definitions,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    ParquetSource,
    PushSource,
)
from kiln.features._materialize import materialization_history

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WHEN = pa.timestamp("us", tz="UTC")
CUSTOMER = Entity("customer", {"customer_id": "int64"})


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def write_stats(path: Path, **extra: list[object]) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2, 3, 3], pa.int64()),
                "event_timestamp": pa.array([ago(10), ago(2), ago(5), ago(50), ago(49)], WHEN),
                "created": pa.array([ago(10), ago(2), ago(5), ago(50), ago(40)], WHEN),
                "spend": [1.0, 2.0, 3.0, 4.0, 5.0],
                "segment": ["a", "b", "c", "d", "e"],
                **extra,
            }
        ),
        path,
    )


def stats_view(path: Path, *features: Field) -> FeatureView:
    return FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(path)),
        list(features) or [Field("spend", "float64"), Field("segment", "string")],
        created_timestamp="created",
        ttl=timedelta(hours=24),
        owner="risk",
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
        found.online.drop(f"{project}/{view}")
    found.close()


def test_materialize_then_read_online_with_status_and_event_time(
    store: FeatureStore, tmp_path: Path
) -> None:
    write_stats(tmp_path / "stats.parquet")
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    (done,) = store.materialize(end=NOW)
    # Customer 3's newest row is 49 h old at the end: beyond the 24 h ttl, never written.
    assert (done.rows_read, done.keys_written) == (5, 2)
    assert done.newest_event == ago(2)
    assert done.statistics["spend"]["count"] == 2
    assert done.statistics["spend"]["max"] == 3.0

    found = store.get_online_features(
        [{"customer_id": 1}, {"customer_id": 2}, {"customer_id": 3}, {"customer_id": 1}],
        ["customer_stats:spend", "customer_stats:segment"],
        now=NOW,
    )
    assert found.values["customer_id"] == [1, 2, 3, 1]
    assert found.values["spend"] == [2.0, 3.0, None, 2.0]
    assert found.values["segment"] == ["b", "c", None, "b"]
    assert found.statuses["spend"] == ["present", "present", "missing", "present"]
    assert found.event_timestamps["spend"] == [ago(2), ago(5), None, ago(2)]
    body = found.to_json()
    assert body["feature_names"] == ["customer_id", "spend", "segment"]
    assert body["results"][1]["event_timestamps"][0] == ago(2).isoformat()


def test_the_ttl_is_enforced_on_online_reads(store: FeatureStore, tmp_path: Path) -> None:
    write_stats(tmp_path / "stats.parquet")
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    store.materialize(end=NOW)
    rows = {"customer_id": [1, 2]}
    # 22 h later, customer 1's row (2 h old at NOW) is 24 h old: inclusive, still present;
    # customer 2's (5 h old) has expired, its value withheld.
    later = store.get_online_features(rows, ["customer_stats:spend"], now=NOW + timedelta(hours=22))
    assert later.statuses["spend"] == ["present", "expired"]
    assert later.values["spend"] == [2.0, None]
    assert later.event_timestamps["spend"] == [ago(2), ago(5)]


def test_incremental_materialization_resumes_at_the_watermark(
    store: FeatureStore, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path)
    store.apply(Definitions.of(stats_view(path)))
    store.materialize(end=ago(3))
    first = store.get_online_features({"customer_id": [1]}, ["customer_stats:spend"], now=NOW)
    assert first.values["spend"] == [1.0]  # the 2 h old row was after the end
    (second,) = store.materialize_incremental(end=NOW)
    assert second.start == ago(3)
    assert second.keys_written == 1  # only customer 1 changed since the watermark
    after = store.get_online_features({"customer_id": [1]}, ["customer_stats:spend"], now=NOW)
    assert after.values["spend"] == [2.0]
    assert store.materialize_incremental(end=NOW) == []  # nothing after the watermark
    history = store.context.db.read(materialization_history, store.project, "customer_stats")
    assert [(m.start, m.end, m.status) for m in history] == [
        (ago(3), NOW, "COMPLETED"),
        (None, ago(3), "COMPLETED"),
    ]


def test_a_late_correction_wins_online_as_offline(store: FeatureStore, tmp_path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1], pa.int64()),
                "event_timestamp": pa.array([ago(1), ago(1)], WHEN),
                "created": pa.array([ago(0), ago(1)], WHEN),
                "spend": [9.0, 1.0],
                "segment": ["late", "first"],
            }
        ),
        tmp_path / "stats.parquet",
    )
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    store.materialize(end=NOW)
    online = store.get_online_features({"customer_id": [1]}, ["customer_stats:spend"], now=NOW)
    offline = store.get_historical_features(
        pd.DataFrame({"customer_id": [1], "event_timestamp": [NOW]}), ["customer_stats:spend"]
    )
    assert online.values["spend"] == [9.0] == offline["spend"].tolist()


def test_every_read_sees_the_latest_apply(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path, risk=[0.1, 0.2, 0.3, 0.4, 0.5])
    store.apply(Definitions.of(stats_view(path)))
    with pytest.raises(NotFound, match="no feature 'risk'"):
        store.get_online_features({"customer_id": [1]}, ["customer_stats:risk"], now=NOW)
    # Another process applies a new version; this store object sees it on its next read.
    other = FeatureStore(store.context)
    other.apply(
        Definitions.of(stats_view(path, Field("spend", "float64"), Field("risk", "float64")))
    )
    assert store.version_of("feature_view", "customer_stats") == 2
    found = store.get_online_features({"customer_id": [1]}, ["customer_stats:risk"], now=NOW)
    assert found.statuses["risk"] == ["missing"]  # defined, not materialized yet


def test_a_backfill_fills_a_new_feature_over_a_range(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    write_stats(path)
    store.apply(Definitions.of(stats_view(path)))
    store.materialize(end=NOW)
    write_stats(path, risk=[0.1, 0.2, 0.3, 0.4, 0.5])  # the source gains a column
    store.apply(
        Definitions.of(
            stats_view(
                path,
                Field("spend", "float64"),
                Field("segment", "string"),
                Field("risk", "float64"),
            )
        )
    )
    # Re-materializing the last 4 hours rewrites customer 1's row (2 h old) with the new
    # feature; customer 2's row (5 h old) is outside the range and keeps its old payload.
    (done,) = store.materialize(start=ago(4), end=NOW)
    assert done.view_version == 2
    assert done.keys_written == 1
    found = store.get_online_features(
        {"customer_id": [1, 2]}, ["customer_stats:risk", "customer_stats:spend"], now=NOW
    )
    assert found.values["risk"] == [0.2, None]
    assert found.statuses["risk"] == ["present", "missing"]
    assert found.values["spend"] == [2.0, 3.0]
    # An older range written after a newer one never hides the newer value.
    store.materialize(start=ago(12), end=ago(9))
    again = store.get_online_features({"customer_id": [1]}, ["customer_stats:spend"], now=NOW)
    assert again.values["spend"] == [2.0]
    # Offline, the new feature has its full history at once.
    frame = store.get_historical_features(
        pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [ago(9), NOW]}),
        ["customer_stats:risk"],
    )
    assert frame["risk"].tolist() == [0.1, 0.3]


def test_push_writes_online_and_appends_to_the_offline_log(
    store: FeatureStore, tmp_path: Path
) -> None:
    clicks = FeatureView(
        "clicks",
        [CUSTOMER],
        PushSource(str(tmp_path / "pushed")),
        [Field("count", "int64")],
    )
    store.apply(Definitions.of(clicks))
    empty = store.get_historical_features(
        pd.DataFrame({"customer_id": [1], "event_timestamp": [NOW]}), ["clicks:count"]
    )
    assert empty["count"].isna().all()  # nothing pushed yet: no rows, no error
    assert (
        store.push(
            "clicks",
            pd.DataFrame(
                {
                    "customer_id": [1, 1, 2],
                    "event_timestamp": [ago(2), ago(1), ago(3)],
                    "count": pd.array([3, 4, 5], dtype="int32"),
                }
            ),
        )
        == 3
    )
    online = store.get_online_features({"customer_id": [1, 2]}, ["clicks:count"], now=NOW)
    assert online.values["count"] == [4, 5]
    store.push("clicks", [{"customer_id": 1, "event_timestamp": ago(0.5), "count": 6}])
    offline = store.get_historical_features(
        pd.DataFrame({"customer_id": [1, 1], "event_timestamp": [ago(1.5), NOW]}),
        ["clicks:count"],
    )
    assert offline["count"].tolist() == [3, 6]
    assert len(list((tmp_path / "pushed").glob("*.parquet"))) == 2
    assert not list((tmp_path / "pushed").glob(".*"))  # no half-written files left


def test_push_refuses_bad_rows_and_other_views(store: FeatureStore, tmp_path: Path) -> None:
    write_stats(tmp_path / "stats.parquet")
    clicks = FeatureView(
        "clicks", [CUSTOMER], PushSource(str(tmp_path / "pushed")), [Field("count", "int64")]
    )
    store.apply(Definitions.of(clicks, stats_view(tmp_path / "stats.parquet")))
    with pytest.raises(InvalidInput, match="only views with a PushSource"):
        store.push("customer_stats", [{"customer_id": 1}])
    with pytest.raises(
        InvalidInput, match=r"'count' should hold int64, its source holds (large_)?string"
    ):
        store.push("clicks", [{"customer_id": 1, "event_timestamp": NOW, "count": "many"}])
    with pytest.raises(InvalidInput, match="no column 'event_timestamp'"):
        store.push("clicks", [{"customer_id": 1, "count": 2}])
    assert not (tmp_path / "pushed").exists()  # nothing was appended


def test_online_reads_refuse_bad_keys_and_name_close_features(
    store: FeatureStore, tmp_path: Path
) -> None:
    write_stats(tmp_path / "stats.parquet")
    store.apply(
        Definitions.of(
            stats_view(tmp_path / "stats.parquet"),
            FeatureService("fraud", ["customer_stats:spend"]),
        )
    )
    store.materialize(end=NOW)
    # 1.0 and numpy integers name the same entity as 1.
    assert store.get_online_features(
        pd.DataFrame({"customer_id": [1]}).astype("float64"), "fraud", now=NOW
    ).values["spend"] == [2.0]
    with pytest.raises(InvalidInput, match="join key 'customer_id' must be an integer"):
        store.get_online_features({"customer_id": ["x"]}, "fraud")
    with pytest.raises(InvalidInput, match="lack the join keys customer_id"):
        store.get_online_features([{"client": 1}], "fraud")
    with pytest.raises(NotFound, match="did you mean spend"):
        store.get_online_features([{"customer_id": 1}], ["customer_stats:spnd"])
    with pytest.raises(NotFound, match="unknown feature service 'frad'"):
        store.get_online_features([{"customer_id": 1}], "frad")


def test_a_source_of_the_wrong_type_fails_materialization_and_is_recorded(
    store: FeatureStore, tmp_path: Path
) -> None:
    path = tmp_path / "stats.parquet"
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1], pa.int64()),
                "event_timestamp": pa.array([ago(1)], WHEN),
                "created": pa.array([ago(1)], WHEN),
                "spend": ["lots"],
                "segment": ["a"],
            }
        ),
        path,
    )
    store.apply(Definitions.of(stats_view(path)))
    with pytest.raises(
        InvalidInput,
        match="feature view 'customer_stats': column 'spend' should hold float64, "
        "its source holds string",
    ):
        store.materialize(end=NOW)
    (record,) = store.context.db.read(materialization_history, store.project, "customer_stats")
    assert record.status == "FAILED"
    assert "should hold float64" in record.error
    write_stats(path)  # the source is fixed; a failure set no watermark, so all is read
    (done,) = store.materialize_incremental(end=NOW)
    assert done.start is None
    assert done.keys_written == 2


def test_retrieval_over_a_time_range_without_an_entity_dataframe(
    store: FeatureStore, tmp_path: Path
) -> None:
    write_stats(tmp_path / "stats.parquet")
    store.apply(Definitions.of(stats_view(tmp_path / "stats.parquet")))
    frame = store.get_historical_features(
        features=["customer_stats:spend"], start=ago(10), end=ago(2)
    )
    assert frame["customer_id"].tolist() == [1, 2, 1]
    assert frame["event_timestamp"].tolist() == [ago(10), ago(5), ago(2)]
    assert frame["spend"].tolist() == [1.0, 3.0, 2.0]
    with pytest.raises(InvalidInput, match="give an entity dataframe, or start and end"):
        store.get_historical_features(features=["customer_stats:spend"], start=ago(10))
    with pytest.raises(InvalidInput, match="is after end"):
        store.get_historical_features(features=["customer_stats:spend"], start=NOW, end=ago(10))
