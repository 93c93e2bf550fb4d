"""Training/serving consistency: a model version records the features it was trained on.

Through the public paths: ``kiln.start_run`` → ``get_historical_features``
→ ``log_model`` → ``register_model``, then online reads from the version's
tags alone; plus the stock ``mlflow`` client registering from a tagged run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kiln
from kiln import registry
from kiln.errors import InvalidInput
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
    TrainingFeatures,
    catalog,
)
from kiln.tracking import _fluent
from kiln.tracking._names import INHERITED_RUN_TAGS

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
WHEN = pa.timestamp("us", tz="UTC")
CUSTOMER = Entity("customer", {"customer_id": "int64"})
MERCHANT = Entity("merchant", {"merchant_id": "string"})


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def relative_amount(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_vs_spend": frame["amount"] / frame["spend"]})


def definitions(folder: Path, *, ttl_hours: float = 48) -> Definitions:
    stats = FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(folder / "stats.parquet")),
        [Field("spend", "float64"), Field("visits", "int64")],
        ttl=timedelta(hours=ttl_hours),
    )
    risk = FeatureView(
        "merchant_risk",
        [MERCHANT],
        ParquetSource(str(folder / "risk.parquet")),
        [Field("risk", "float64")],
        ttl=timedelta(hours=48),
    )
    relative = OnDemandFeatureView(
        "relative",
        [stats, RequestSource("request", [Field("amount", "float64")])],
        [Field("amount_vs_spend", "float64")],
        relative_amount,
    )
    service = FeatureService("fraud", [stats, "merchant_risk:risk", relative])
    return Definitions.of(CUSTOMER, MERCHANT, stats, risk, relative, service)


def write_sources(folder: Path) -> None:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array([ago(30), ago(3), ago(5)], WHEN),
                "spend": [10.0, 20.0, 40.0],
                "visits": pa.array([1, 2, 7], pa.int64()),
            }
        ),
        folder / "stats.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "merchant_id": ["m1", "m2"],
                "event_timestamp": pa.array([ago(6), ago(4)], WHEN),
                "risk": [0.1, 0.9],
            }
        ),
        folder / "risk.parquet",
    )


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[FeatureStore]:
    """The current context's feature store with the definitions applied, in process."""
    kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    write_sources(tmp_path)
    found = FeatureStore(kiln.get_context())
    found.apply(definitions(tmp_path))
    try:
        yield found
    finally:
        _fluent._reset_for_tests()
        found.close()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


ENTITIES = pd.DataFrame(
    {
        "customer_id": [1, 2, 1],
        "merchant_id": ["m1", "m2", "m2"],
        "event_timestamp": [ago(1), ago(1), ago(20)],
        "amount": [5.0, 20.0, 1.0],
        "is_fraud": [0, 1, 0],
    }
)


def train(store: FeatureStore, **retrieval: Any) -> tuple[str, pd.DataFrame, Any]:
    """A run that fetches the training set and logs a model trained on it."""
    from sklearn.linear_model import LogisticRegression

    with kiln.start_run(experiment="fraud") as run:
        frame = store.get_historical_features(ENTITIES, "fraud", **retrieval)
        inputs = frame.drop(columns=[*ENTITIES.columns]).fillna(0.0)
        model = LogisticRegression().fit(inputs, ENTITIES["is_fraud"])
        logged = kiln.models.log_model(model, "model", input_example=inputs.head(2))
    return run.id, frame, logged


def test_a_registered_version_records_the_service_views_and_features(
    store: FeatureStore,
) -> None:
    run_id, frame, logged = train(store)
    expected = {
        "kiln.feature_service": "fraud",
        "kiln.feature_views": json.dumps({"customer_stats": 1, "merchant_risk": 1, "relative": 1}),
        "kiln.features": json.dumps(
            [
                "customer_stats:spend",
                "customer_stats:visits",
                "merchant_risk:risk",
                "relative:amount_vs_spend",
            ]
        ),
    }
    tags = kiln.get_run(run_id).tags
    assert {key: tags[key] for key in expected} == expected

    version = registry.register_model(logged, "fraud-model", tags={"team": "risk"})
    assert {key: version.tags.get(key) for key in expected} == expected
    assert version.tags["team"] == "risk"
    assert "kiln.full_feature_names" not in version.tags

    record = TrainingFeatures.from_tags(version.tags)
    assert record is not None
    assert record.service == "fraud"
    assert record.views == {"customer_stats": 1, "merchant_risk": 1, "relative": 1}
    # Serving needs only the entity keys (and the request data) to rebuild the model's input.
    online = store.get_online_features(
        [{"customer_id": 1, "merchant_id": "m2", "amount": 5.0}], record, now=NOW
    )
    trained_columns = [c for c in frame.columns if c not in ENTITIES.columns]
    assert [c for c in online.values if c in trained_columns] == trained_columns

    entries = store.context.db.read(catalog, store.project)
    used = {(e.kind, e.name): e.consumers for e in entries}
    assert used[("feature_service", "fraud")] == ("fraud-model/1",)
    assert used[("feature_view", "merchant_risk")] == ("fraud-model/1",)


def test_online_reads_from_the_record_return_what_training_saw(store: FeatureStore) -> None:
    store.materialize(end=NOW)
    _, frame, logged = train(store, full_feature_names=True)
    version = registry.register_model(logged, "fraud-model")
    assert version.tags["kiln.full_feature_names"] == "true"
    record = TrainingFeatures.from_tags(version.tags)
    assert record is not None
    assert record.full_feature_names

    # The first entity row is an hour old: as of then, the online values equal the offline ones.
    online = store.get_online_features(
        [{"customer_id": 1, "merchant_id": "m1", "amount": 5.0}], record, now=ago(1)
    ).to_pandas()
    for column in ("customer_stats__spend", "merchant_risk__risk", "relative__amount_vs_spend"):
        assert online.loc[0, column] == frame.loc[0, column], column


def test_a_changed_view_is_reported_against_the_record(store: FeatureStore, tmp_path: Path) -> None:
    _, _, logged = train(store)
    record = TrainingFeatures.from_tags(registry.register_model(logged, "fraud-model").tags)
    assert record is not None
    current = store.training_features("fraud").views
    assert record.changed_views(current) == {}

    store.apply(definitions(tmp_path, ttl_hours=12))  # customer_stats is v2 now
    current = store.training_features("fraud").views
    assert record.changed_views(current) == {"customer_stats": (1, 2)}


def test_no_run_or_record_false_tags_nothing(store: FeatureStore) -> None:
    frame = store.get_historical_features(ENTITIES, "fraud")  # no active run: nothing to tag
    assert len(frame) == len(ENTITIES)
    with kiln.start_run(experiment="fraud") as run:
        store.get_historical_features(ENTITIES, "fraud", record=False)
    assert not set(INHERITED_RUN_TAGS) & set(kiln.get_run(run.id).tags)


def test_plain_references_are_recorded_without_a_service(store: FeatureStore) -> None:
    with kiln.start_run(experiment="fraud") as run:
        store.get_historical_features(ENTITIES, ["merchant_risk:risk"])
    tags = kiln.get_run(run.id).tags
    assert tags["kiln.features"] == json.dumps(["merchant_risk:risk"])
    assert tags["kiln.feature_views"] == json.dumps({"merchant_risk": 1})
    assert "kiln.feature_service" not in tags


def test_a_record_that_is_not_json_is_refused() -> None:
    assert TrainingFeatures.from_tags({"team": "risk"}) is None
    with pytest.raises(InvalidInput, match="not JSON"):
        TrainingFeatures.from_tags({"kiln.features": "[not json"})
    with pytest.raises(InvalidInput, match="JSON list"):
        TrainingFeatures.from_tags({"kiln.features": '{"a": 1}'})


def test_too_many_references_for_a_tag_are_refused() -> None:
    record = TrainingFeatures(references=tuple(f"view:feature_{i}" for i in range(1000)))
    with pytest.raises(InvalidInput, match="FeatureService") as caught:
        record.as_tags()
    assert caught.value.field == "features"
