"""On-demand feature views: one transformation, the same answers offline and online."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kiln.auth import ensure_project
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput
from kiln.features import FeatureStore, OnDemandFeatureView, RequestSource
from kiln.features._definitions import Field

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)

DEFINITIONS = """
from datetime import timedelta

import pandas as pd

from kiln.features import (
    Entity, FeatureService, FeatureView, Field, OnDemandFeatureView, ParquetSource, RequestSource,
)

customer = Entity("customer", {"customer_id": "int64"})
stats = FeatureView(
    "customer_stats",
    [customer],
    ParquetSource(SOURCE),
    [Field("mean_amount", "float64"), Field("txn_count", "int64")],
    ttl=timedelta(days=1),
)
payment = RequestSource("payment", [Field("amount", "float64")])


def amount_ratio(inputs: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount_ratio": inputs["amount"] / inputs["mean_amount"],
            "first_payment": inputs["txn_count"].fillna(0) == 0,
        }
    )


ratio = OnDemandFeatureView(
    "payment_ratio",
    [stats, payment],
    [Field("amount_ratio", "float64"), Field("first_payment", "bool")],
    amount_ratio,
)
fraud = FeatureService("fraud", ["customer_stats:txn_count", ratio])
"""


@pytest.fixture
def store(make_context: Callable[..., Context], sqlite_url: str, tmp_path: Path) -> FeatureStore:
    project = f"p{uuid.uuid4().hex[:10]}"
    context = make_context(database_url=sqlite_url, project=project)
    context.db.run(ensure_project, project)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 2], pa.int64()),
                "event_timestamp": pa.array(
                    [NOW - timedelta(hours=2), NOW - timedelta(hours=3)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "mean_amount": [10.0, 4.0],
                "txn_count": pa.array([5, 0], pa.int64()),
            }
        ),
        tmp_path / "stats.parquet",
    )
    (tmp_path / "defs.py").write_text(
        DEFINITIONS.replace("SOURCE", repr(str(tmp_path / "stats.parquet")))
    )
    found = FeatureStore(context)
    found.apply(tmp_path / "defs.py")
    found.materialize(end=NOW)
    return found


def test_offline_and_online_give_the_same_values(store: FeatureStore) -> None:
    entity = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "event_timestamp": [NOW, NOW, NOW],
            "amount": [25.0, 2.0, 7.0],
        }
    )
    offline = store.get_historical_features(entity, "fraud")
    assert offline.columns.tolist()[-3:] == ["txn_count", "amount_ratio", "first_payment"]
    assert offline["amount_ratio"].tolist()[:2] == [2.5, 0.5]
    assert offline["first_payment"].tolist() == [False, True, True]
    online = store.get_online_features(
        [
            {"customer_id": 1, "amount": 25.0},
            {"customer_id": 2, "amount": 2},
            {"customer_id": 3, "amount": 7.0},
        ],
        "fraud",
        now=NOW,
    )
    assert online.values["amount_ratio"][:2] == offline["amount_ratio"].tolist()[:2]
    assert online.values["amount_ratio"][2] is None  # no stats for customer 3: NaN offline
    assert pd.isna(offline["amount_ratio"].iloc[2])
    assert online.values["first_payment"] == offline["first_payment"].tolist()
    assert online.statuses["amount_ratio"] == ["present", "present", "missing"]
    assert online.event_timestamps["amount_ratio"][0] == NOW - timedelta(hours=2)


def test_request_fields_are_required(store: FeatureStore) -> None:
    with pytest.raises(InvalidInput, match="needs the request fields amount"):
        store.get_online_features([{"customer_id": 1}], ["payment_ratio:amount_ratio"], now=NOW)
    with pytest.raises(InvalidInput, match="'amount' should be float64"):
        store.get_online_features(
            [{"customer_id": 1, "amount": "lots"}], ["payment_ratio:amount_ratio"], now=NOW
        )


def test_a_transformation_changed_since_apply_is_refused(
    store: FeatureStore, tmp_path: Path
) -> None:
    path = tmp_path / "defs.py"
    path.write_text(path.read_text().replace("/ inputs", "* inputs"))
    other = FeatureStore(store.context)  # reads the applied definitions, not the file's objects
    with pytest.raises(Conflict, match="changed since it was applied; run `kiln features apply"):
        other.get_online_features(
            [{"customer_id": 1, "amount": 1.0}], ["payment_ratio:amount_ratio"], now=NOW
        )
    other.apply(path)
    found = other.get_online_features(
        [{"customer_id": 1, "amount": 1.0}], ["payment_ratio:amount_ratio"], now=NOW
    )
    assert found.values["amount_ratio"] == [10.0]


def test_a_transformation_returning_the_wrong_type_is_refused(store: FeatureStore) -> None:
    stats = store.view("customer_stats")

    def text(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"label": inputs["txn_count"].astype(str)})

    def short(inputs: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"label": [1.0]})

    entity = pd.DataFrame({"customer_id": [1, 2], "event_timestamp": [NOW, NOW]})
    for function, message in ((text, "should hold float64"), (short, "a DataFrame of 2 rows")):
        view = OnDemandFeatureView("bad", [stats], [Field("label", "float64")], function)
        with pytest.raises(InvalidInput, match=message):
            store.get_historical_features(entity, ["bad:label"], views=[stats, view])


def test_definitions_are_checked_where_written() -> None:
    payment = RequestSource("payment", [Field("amount", "float64")])
    with pytest.raises(InvalidInput, match="give amount more than once"):
        OnDemandFeatureView("twice", [payment, payment], [Field("x", "float64")], len)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="has no source file"):
        OnDemandFeatureView("builtin", [payment], [Field("x", "float64")], len)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="needs a transform function"):
        OnDemandFeatureView("none", [payment], [Field("x", "float64")], None)
