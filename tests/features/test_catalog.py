"""The feature catalog over a real store: applied definitions, real materializations and
model versions carrying the features tags, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import event

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
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
)
from kiln.features._catalog import (
    FEATURES_TAG,
    SERVICE_TAG,
    VIEWS_TAG,
    catalog,
)
from kiln.features._describe import describe
from kiln.registry._versions import create_model_version

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WHEN = pa.timestamp("us", tz="UTC")


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


CUSTOMER = Entity("customer", {"customer_id": "int64"}, owner="risk", tags={"team": "risk"})
MERCHANT = Entity("merchant", {"merchant_id": "string"})


def stats_view(path: Path, ttl_hours: float = 24) -> FeatureView:
    return FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(path)),
        [Field("spend", "float64", "7-day spend"), Field("segment", "string")],
        ttl=timedelta(hours=ttl_hours),
        description="Spend per customer",
        owner="risk-team",
        tags={"team": "risk", "tier": "gold"},
    )


def merchant_view(path: Path) -> FeatureView:
    return FeatureView(
        "merchant_risk",
        [MERCHANT],
        ParquetSource(str(path)),
        [Field("risk", "float64")],
        owner="fraud-team",
    )


def write_stats(path: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array([ago(10), ago(2), ago(5)], WHEN),
                "spend": [1.0, 2.0, 4.0],
                "segment": ["a", "b", None],
            }
        ),
        path,
    )


@dataclass
class Seeded:
    store: FeatureStore
    project: str
    stats: Path
    merchants: Path


def register(context: Context, model: str, tags: dict[str, str]) -> None:
    context.db.run(
        create_model_version,
        context.settings.project,
        model,
        f"/models/{model}",
        create_model=True,
        require_manifest=False,
        tags=tags,
    )


@pytest.fixture
def seeded(context: Context, tmp_path: Path) -> Seeded:
    project = context.settings.project
    context.db.run(ensure_project, project)
    stats, merchants = tmp_path / "stats.parquet", tmp_path / "merchants.parquet"
    write_stats(stats)
    store = FeatureStore(context, online_store_url=f"sqlite:///{tmp_path / 'online.db'}")
    fraud = FeatureService("fraud", [stats_view(stats), "merchant_risk:risk"], owner="fraud-team")
    store.apply(Definitions.of(stats_view(stats, 36), merchant_view(merchants), fraud))
    store.apply(Definitions.of(stats_view(stats), merchant_view(merchants), fraud))  # v2: the ttl
    store.materialize(["customer_stats"], end=NOW)
    stats.rename(tmp_path / "aside.parquet")  # a later materialization fails: no source
    with pytest.raises(NotFound):
        store.materialize(["customer_stats"], end=NOW + timedelta(hours=1))
    (tmp_path / "aside.parquet").rename(stats)
    with pytest.raises(NotFound):  # merchant_risk's source was never written
        store.materialize(["merchant_risk"], end=NOW)
    register(
        context,
        "fraud-model",
        {
            SERVICE_TAG: "fraud",
            VIEWS_TAG: json.dumps({"customer_stats": 1, "merchant_risk": 1}),
            FEATURES_TAG: json.dumps(["customer_stats:spend", "merchant_risk:risk"]),
        },
    )
    register(context, "churn-model", {VIEWS_TAG: json.dumps({"customer_stats": 2})})
    register(context, "unrelated", {"team": "risk"})
    register(context, "broken", {VIEWS_TAG: "{not json", SERVICE_TAG: ""})
    return Seeded(store, project, stats, merchants)


def test_the_catalog_lists_every_definition_with_freshness_and_consumers(
    seeded: Seeded,
) -> None:
    db = seeded.store.context.db
    entries = {e.name: e for e in db.read(catalog, seeded.project)}
    assert [(e.kind, e.name) for e in db.read(catalog, seeded.project)] == [
        ("entity", "customer"),
        ("entity", "merchant"),
        ("feature_view", "customer_stats"),
        ("feature_view", "merchant_risk"),
        ("feature_service", "fraud"),
    ]
    stats = entries["customer_stats"]
    assert (stats.version, stats.owner, stats.description) == (2, "risk-team", "Spend per customer")
    assert stats.tags == {"team": "risk", "tier": "gold"}
    assert [(f.name, f.dtype, f.description) for f in stats.features] == [
        ("spend", "float64", "7-day spend"),
        ("segment", "string", ""),
    ]
    assert stats.join_keys == {"customer_id": "int64"}
    # Freshness is the latest COMPLETED materialization's: the later FAILED one is not it.
    assert stats.newest_event == ago(2)
    assert stats.materialized_at is not None
    assert stats.consumers == ("churn-model/1", "fraud-model/1")

    merchant = entries["merchant_risk"]
    assert (merchant.newest_event, merchant.materialized_at) == (None, None)
    assert merchant.consumers == ("fraud-model/1",)

    fraud = entries["fraud"]
    assert [(f.reference, f.dtype) for f in fraud.features] == [
        ("customer_stats:spend", "float64"),
        ("customer_stats:segment", "string"),
        ("merchant_risk:risk", "float64"),
    ]
    assert fraud.related == ("customer_stats", "merchant_risk")
    assert fraud.consumers == ("fraud-model/1",)
    assert fraud.newest_event is None  # as fresh as its stalest view: merchant_risk, never

    assert entries["customer"].related == ("customer_stats",)
    assert entries["customer"].consumers == ("churn-model/1", "fraud-model/1")
    body = stats.to_dict()
    assert body["features"][0] == {
        "name": "spend",
        "dtype": "float64",
        "description": "7-day spend",
    }
    assert body["consumers"] == ["churn-model/1", "fraud-model/1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("spend", ["customer_stats", "fraud"]),
        ("SPEND PER", ["customer_stats"]),
        ('"spend per customer"', ["customer_stats"]),
        ("owner:fraud", ["merchant_risk", "fraud"]),
        ("tag:team=risk", ["customer", "customer_stats"]),
        ("tag:tier", ["customer_stats"]),
        ("tag:team=fraud", []),
        ("kind:service", ["fraud"]),
        ("type:string", ["merchant", "customer_stats", "fraud"]),
        ("feature:risk", ["merchant_risk", "fraud"]),
        ("model:churn", ["customer", "customer_stats"]),
        ("merchant_risk:risk", ["merchant_risk", "fraud"]),
        ("gold risk", ["customer_stats"]),
        ("7-day", ["customer_stats", "fraud"]),  # the service has the feature too
        ("no-such-thing", []),
        ("", ["customer", "merchant", "customer_stats", "merchant_risk", "fraud"]),
        ('"unbalanced', []),
    ],
)
def test_search_matches_every_part_case_insensitively(
    seeded: Seeded, query: str, expected: list[str]
) -> None:
    found = seeded.store.context.db.read(catalog, seeded.project, query)
    assert [entry.name for entry in found] == expected


def test_the_catalog_costs_the_same_few_queries_however_much_there_is(seeded: Seeded) -> None:
    db = seeded.store.context.db
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        db.read(catalog, seeded.project)
        few = len(statements)
        for index in range(5):
            register(
                seeded.store.context,
                f"more-{index}",
                {VIEWS_TAG: json.dumps({"customer_stats": 2})},
            )
        statements.clear()
        entries = {e.name: e for e in db.read(catalog, seeded.project)}
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert len(entries["customer_stats"].consumers) == 7
    assert len(statements) == few <= 5


def test_describe_a_view_gives_schema_statistics_versions_and_consumers(
    seeded: Seeded,
) -> None:
    db = seeded.store.context.db
    found = db.read(describe, seeded.project, "customer_stats", now=NOW + timedelta(hours=30))
    assert (found["kind"], found["version"]) == ("feature_view", 2)
    assert found["schema"]["join_keys"] == {"customer_id": "int64"}
    assert found["schema"]["event_timestamp"] == "event_timestamp"
    assert found["schema"]["ttl_seconds"] == 24 * 3600
    assert found["schema"]["source"] == {"kind": "parquet", "path": str(seeded.stats)}
    assert [f["name"] for f in found["schema"]["features"]] == ["spend", "segment"]
    assert [(v["version"], v["changed"]) for v in found["versions"]] == [
        (2, ["ttl_seconds"]),
        (1, []),
    ]
    assert [m["status"] for m in found["materializations"]] == ["FAILED", "COMPLETED"]
    assert "does not exist" in found["materializations"][0]["error"]
    # Two customers written: spend 2.0 and 4.0; segment "b" and a null.
    spend = found["statistics"]["spend"]
    assert (spend["count"], spend["nulls"], spend["min"], spend["max"]) == (2, 0, 2.0, 4.0)
    assert found["statistics"]["segment"]["nulls"] == 1
    assert found["statistics_version"] == 2
    assert found["freshness"]["newest_event"] == ago(2)
    assert found["freshness"]["expired"] is True  # 32 h after the newest event, ttl 24 h
    fresh = db.read(describe, seeded.project, "customer_stats", now=NOW)
    assert fresh["freshness"]["expired"] is False
    assert found["services"] == ["fraud"]
    consumers = {c["uri"]: c for c in found["consumers"]}
    assert sorted(consumers) == ["models:/churn-model/1", "models:/fraud-model/1"]
    assert consumers["models:/fraud-model/1"]["views"] == {
        "customer_stats": {"version": 1, "current": False}  # trained on the 36 h ttl
    }
    assert consumers["models:/churn-model/1"]["views"]["customer_stats"]["current"] is True


def test_describe_a_service_and_an_entity(seeded: Seeded) -> None:
    db = seeded.store.context.db
    service = db.read(describe, seeded.project, "fraud")
    assert service["kind"] == "feature_service"
    assert [(v["name"], v["features"], v["newest_event"]) for v in service["views"]] == [
        ("customer_stats", ["spend", "segment"], ago(2)),
        ("merchant_risk", ["risk"], None),
    ]
    assert [c["uri"] for c in service["consumers"]] == ["models:/fraud-model/1"]
    assert service["spec"]["features"][-1] == "merchant_risk:risk"
    entity = db.read(describe, seeded.project, "merchant", "entities")
    assert entity["join_keys"] == {"merchant_id": "string"}
    assert entity["views"] == ["merchant_risk"]


def test_unknown_removed_and_badly_kinded_names_say_what_to_do(seeded: Seeded) -> None:
    db = seeded.store.context.db
    with pytest.raises(NotFound, match="did you mean customer_stats"):
        db.read(describe, seeded.project, "customer_stat")
    with pytest.raises(NotFound, match="no feature service 'customer_stats'"):
        db.read(describe, seeded.project, "customer_stats", "service")
    with pytest.raises(InvalidInput, match="unknown definition kind") as bad:
        db.read(describe, seeded.project, "customer_stats", "table")
    assert bad.value.field == "kind"
    seeded.store.apply(Definitions.of(stats_view(seeded.stats)))
    with pytest.raises(NotFound, match=r"was removed .* apply a definition of it again"):
        db.read(describe, seeded.project, "merchant_risk")
    assert [e.name for e in db.read(catalog, seeded.project)] == ["customer", "customer_stats"]


def test_a_run_that_found_nothing_new_keeps_freshness_and_statistics(seeded: Seeded) -> None:
    db = seeded.store.context.db
    before = {e.name: e for e in db.read(catalog, seeded.project)}["customer_stats"]
    (empty,) = seeded.store.materialize(
        ["customer_stats"], incremental=True, end=NOW + timedelta(hours=2)
    )
    assert (empty.keys_written, empty.newest_event) == (0, None)
    after = {e.name: e for e in db.read(catalog, seeded.project)}["customer_stats"]
    assert after.newest_event == ago(2)  # the values online are as fresh as before
    assert before.materialized_at is not None
    assert after.materialized_at is not None
    assert after.materialized_at > before.materialized_at  # but it was checked again
    found = db.read(describe, seeded.project, "customer_stats")
    assert found["materializations"][0]["keys_written"] == 0
    assert found["statistics"]["spend"]["count"] == 2  # of the latest run that wrote values


def spend_ratio(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"ratio": frame["amount"] / frame["spend"]})


def test_on_demand_views_are_listed_described_and_used(context: Context, tmp_path: Path) -> None:
    project = context.settings.project
    context.db.run(ensure_project, project)
    write_stats(tmp_path / "stats.parquet")
    stats = stats_view(tmp_path / "stats.parquet")
    ratio = OnDemandFeatureView(
        "spend_ratio",
        [stats, RequestSource("payment", [Field("amount", "float64")])],
        [Field("ratio", "float64", "payment / spend")],
        spend_ratio,
        owner="risk-team",
    )
    service = FeatureService("scoring", ["spend_ratio:ratio", "merchant_risk:risk"])
    store = FeatureStore(context, online_store_url=f"sqlite:///{tmp_path / 'online.db'}")
    store.apply(Definitions.of(stats, merchant_view(tmp_path / "m.parquet"), ratio, service))
    store.materialize(["customer_stats"], end=NOW)
    register(context, "ratio-model", {VIEWS_TAG: json.dumps({"spend_ratio": 1})})

    entries = {(e.kind, e.name): e for e in context.db.read(catalog, project)}
    kinds = [kind for kind, _ in entries]
    assert kinds.index("on_demand_view") < kinds.index("feature_service")
    entry = entries[("on_demand_view", "spend_ratio")]
    assert entry.related == ("customer_stats",)
    assert entry.join_keys == {"customer_id": "int64"}
    assert [(f.name, f.dtype) for f in entry.features] == [("ratio", "float64")]
    assert entry.newest_event == ago(2)  # as fresh as customer_stats
    assert entry.consumers == ("ratio-model/1",)
    scoring = entries[("feature_service", "scoring")]
    assert [(f.view, f.dtype) for f in scoring.features] == [
        ("spend_ratio", "float64"),
        ("merchant_risk", "float64"),
    ]
    assert scoring.newest_event is None  # merchant_risk was never materialized
    assert [e.name for e in context.db.read(catalog, project, "kind:on-demand")] == ["spend_ratio"]

    found = context.db.read(describe, project, "spend_ratio")
    assert found["kind"] == "on_demand_view"
    assert found["schema"]["transform"]["name"] == "spend_ratio"
    assert found["services"] == ["scoring"]
    assert found["consumers"][0]["views"] == {"spend_ratio": {"version": 1, "current": True}}
    served = context.db.read(describe, project, "scoring", "service")
    assert [(v["name"], v["kind"]) for v in served["views"]] == [
        ("spend_ratio", "on_demand_view"),
        ("merchant_risk", "feature_view"),
    ]
    with pytest.raises(NotFound, match="on-demand view 'spend_rati'"):
        context.db.read(describe, project, "spend_rati", "on_demand")
