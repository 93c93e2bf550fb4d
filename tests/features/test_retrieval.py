"""Historical retrieval over real Parquet sources, by references and by service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.context import Context
from kiln.errors import InvalidInput, NotFound
from kiln.features import get_historical_features
from kiln.features._definitions import Entity, FeatureService, FeatureView, Field
from kiln.features._sources import ParquetSource

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WHEN = pa.timestamp("us", tz="UTC")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def views(tmp_path: Path) -> list[FeatureView]:
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array([at(0), at(5), at(1)], WHEN),
                "spend": [1.0, 5.0, 2.0],
                "risk": [0.1, 0.5, 0.2],
            }
        ),
        tmp_path / "customers.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "merchant_id": ["m1", "m1"],
                "event_timestamp": pa.array([at(0), at(3)], WHEN),
                "risk": [0.7, 0.9],
            }
        ),
        tmp_path / "merchants.parquet",
    )
    customer = Entity("customer", {"customer_id": "int64"})
    merchant = Entity("merchant", {"merchant_id": "string"})
    return [
        FeatureView(
            "customer_stats",
            [customer],
            ParquetSource(str(tmp_path / "customers.parquet")),
            [Field("spend", "float64"), Field("risk", "float64")],
            ttl=timedelta(hours=3),
        ),
        FeatureView(
            "merchant_stats",
            [merchant],
            ParquetSource(str(tmp_path / "merchants.parquet")),
            [Field("risk", "float64")],
        ),
    ]


def entity() -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1, 1, 2, 9], pa.int64()),
            "merchant_id": ["m1", "m1", "m1", "m2"],
            "event_timestamp": pa.array([at(2), at(6), at(5), at(6)], WHEN),
            "label": [0, 1, 0, 1],
        }
    )


def test_a_training_set_from_references_in_two_views(views: list[FeatureView]) -> None:
    frame = get_historical_features(
        entity(), ["customer_stats:spend", "merchant_stats:risk"], views=views
    )

    assert frame["label"].tolist() == [0, 1, 0, 1]
    # 2h: the 0h row; 6h: the 5h row; customer 2 at 5h: its 1h row is 4h old > ttl 3h
    assert frame["spend"].tolist()[:2] == [1.0, 5.0]
    assert frame["spend"].isna().tolist() == [False, False, True, True]
    assert frame["risk"].tolist()[:3] == [0.7, 0.9, 0.9]
    assert frame["risk"].isna().tolist()[3]


def test_a_service_and_prefixed_names(views: list[FeatureView]) -> None:
    service = FeatureService("fraud", [views[0], "merchant_stats:risk"])

    with pytest.raises(InvalidInput, match="feature names collide: risk"):
        get_historical_features(entity().to_pandas(), service, views=views)
    frame = get_historical_features(entity(), service, views=views, full_feature_names=True)
    assert list(frame.columns)[-3:] == [
        "customer_stats__spend",
        "customer_stats__risk",
        "merchant_stats__risk",
    ]


def test_unknown_views_and_features_are_not_found_with_close_matches(
    views: list[FeatureView],
) -> None:
    with pytest.raises(NotFound, match="unknown feature view 'customer_stat'; did you mean"):
        get_historical_features(entity(), ["customer_stat:spend"], views=views)
    with pytest.raises(NotFound, match="has no feature 'spnd'; did you mean spend"):
        get_historical_features(entity(), ["customer_stats:spnd"], views=views)
    with pytest.raises(InvalidInput, match="is not 'view:feature'"):
        get_historical_features(entity(), ["spend"], views=views)
    with pytest.raises(InvalidInput, match="lacks event_timestamp"):
        get_historical_features(
            entity().drop_columns(["event_timestamp"]), ["customer_stats:spend"], views=views
        )


def test_without_views_the_applied_definitions_are_used(
    views: list[FeatureView], make_context: Callable[..., Context]
) -> None:
    from kiln.features._loading import Definitions
    from kiln.features._registry import apply_definitions

    context = make_context()
    applied = Definitions.of(*views)
    context.db.run(apply_definitions, "default", applied)

    frame = get_historical_features(entity(), ["customer_stats:spend"], context=context)

    assert frame["spend"].tolist()[:2] == [1.0, 5.0]
    with pytest.raises(NotFound, match="unknown feature view 'nothing'"):
        get_historical_features(entity(), ["nothing:x"], context=context)
