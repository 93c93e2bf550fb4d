"""A model trained from a feature service, served with entity keys only: the server reads
its features from the online store, under the names training used."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import kiln
from kiln import registry
from kiln.features import (
    Definitions,
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
    feature_store,
)
from kiln.tracking import _fluent
from tests.serving.conftest import serving

NOW = datetime.now(UTC).replace(microsecond=0)
WHEN = pa.timestamp("us", tz="UTC")
CUSTOMER = Entity("customer", {"customer_id": "int64"})
MERCHANT = Entity("merchant", {"merchant_id": "string"})


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def amount_vs_spend(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_vs_spend": frame["amount"] / frame["spend"]})


def definitions(folder: Path) -> Definitions:
    stats = FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(folder / "stats.parquet")),
        [Field("spend", "float64"), Field("visits", "int64")],
        ttl=timedelta(days=30),
    )
    risk = FeatureView(
        "merchant_risk",
        [MERCHANT],
        ParquetSource(str(folder / "risk.parquet")),
        [Field("risk", "float64")],
        ttl=timedelta(days=30),
    )
    relative = OnDemandFeatureView(
        "relative",
        [stats, RequestSource("payment", [Field("amount", "float64")])],
        [Field("amount_vs_spend", "float64")],
        amount_vs_spend,
    )
    service = FeatureService("fraud", [stats, "merchant_risk:risk", relative])
    return Definitions.of(CUSTOMER, MERCHANT, stats, risk, relative, service)


def write_sources(folder: Path, rng: np.random.Generator) -> None:
    customers = np.arange(1, 41)
    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array(customers, pa.int64()),
                "event_timestamp": pa.array([ago(100 + int(c)) for c in customers], WHEN),
                "spend": rng.uniform(10, 500, customers.size),
                "visits": pa.array(rng.integers(1, 30, customers.size), pa.int64()),
            }
        ),
        folder / "stats.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "merchant_id": [f"m{i}" for i in range(5)],
                "event_timestamp": pa.array([ago(200)] * 5, WHEN),
                "risk": [0.1, 0.3, 0.5, 0.7, 0.9],
            }
        ),
        folder / "risk.parquet",
    )


@pytest.fixture
def trained(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Any, pd.DataFrame]]:
    """``fraud-model`` v1, trained on the ``fraud`` service; views materialized."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    rng = np.random.default_rng(3)
    write_sources(tmp_path, rng)
    store = feature_store()
    store.apply(definitions(tmp_path))
    store.materialize(end=NOW)
    payments = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 41, 400),
            "merchant_id": [f"m{i}" for i in rng.integers(0, 5, 400)],
            "event_timestamp": [ago(1)] * 400,
            "amount": rng.uniform(1, 900, 400),
        }
    )
    try:
        with kiln.start_run(experiment="serving-features"):
            train = store.get_historical_features(payments, "fraud")
            inputs = train.drop(columns=list(payments.columns))
            labels = (inputs["amount_vs_spend"] * inputs["risk"] > 1).astype("int64")
            model = HistGradientBoostingClassifier(max_iter=20).fit(inputs, labels)
            logged = kiln.models.log_model(model, "model", input_example=inputs.head(3))
        registry.register_model(logged, "fraud-model")
        yield model, inputs
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def test_entity_keys_are_enough_to_score(trained: tuple[Any, pd.DataFrame]) -> None:
    model, inputs = trained
    store = feature_store()
    request = [
        {"customer_id": 3, "merchant_id": "m4", "amount": 800.0},
        {"customer_id": 7, "merchant_id": "m0", "amount": 5.0},
        {"customer_id": 9, "merchant_id": "m9", "amount": 50.0},  # no such merchant online
    ]
    online = store.get_online_features(
        [{k: r[k] for k in ("customer_id", "merchant_id", "amount")} for r in request], "fraud"
    ).to_pandas()
    expected = model.predict(online[list(inputs.columns)])
    with serving(["models:/fraud-model/1"]) as client:
        answer = client.post("/v1/models/fraud-model/predict", json={"records": request})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == expected.tolist()
        assert body["features"]["fetched"] == ["spend", "visits", "risk", "amount_vs_spend"]
        assert body["features"]["missing"] == 1  # the risk of merchant m9: NaN to the model
        listed = client.get("/v1/models").json()["models"][0]
        assert listed["feature_service"] == "fraud"

        # V2: the same, with tensors of keys and the request field.
        tensors = [
            {"name": "customer_id", "shape": [3], "datatype": "INT64", "data": [3, 7, 9]},
            {"name": "merchant_id", "shape": [3], "datatype": "BYTES", "data": ["m4", "m0", "m9"]},
            {"name": "amount", "shape": [3], "datatype": "FP64", "data": [800.0, 5.0, 50.0]},
        ]
        v2 = client.post("/v2/models/fraud-model/infer", json={"inputs": tensors}).json()
        assert v2["outputs"][0]["data"] == expected.tolist()
        assert v2["parameters"]["features"]["missing"] == 1

        # Sending the features themselves skips the store: the model gets what was sent.
        own = inputs.head(2).to_dict("records")
        direct = client.post("/v1/models/fraud-model/predict", json={"records": own}).json()
        assert direct["predictions"] == model.predict(inputs.head(2)).tolist()
        assert "features" not in direct

        # An unknown customer has no visits: the model's int64 column cannot take a null.
        unknown = client.post(
            "/v1/models/fraud-model/predict",
            json={"records": [{"customer_id": 999, "merchant_id": "m1", "amount": 3.0}]},
        )
        assert unknown.status_code == 400
        assert unknown.json()["field"] == "visits"
        assert "missing in the online store" in unknown.json()["message"]

        # Without its entity key the read is refused, naming the key.
        no_key = client.post(
            "/v1/models/fraud-model/predict",
            json={"records": [{"merchant_id": "m1", "amount": 3.0}]},
        )
        assert no_key.status_code == 400
        assert no_key.json()["field"] == "customer_id"
