"""The demo's feature definitions: what ``kiln features apply`` registers for project ``demo``.

``kiln demo`` copies this file to ``$KILN_HOME/demo/features/definitions.py``,
beside the Parquet tables it describes (built by ``kiln.demo._features``),
and applies the copy; edit the copy and run ``kiln --project demo features
apply $KILN_HOME/demo/features/definitions.py`` to see a diff. Sources are
found next to the file itself, so the copy works wherever the home is.

Each view row is stamped at one of the entity's transactions and holds its
aggregates over every transaction up to and including that moment — the
values an online store holds after the transaction. A training example asks
for its features the moment before its own transaction (``scored_at``), so
it sees only strictly earlier transactions, as serving would.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from kiln.features import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
    RequestSource,
)

HERE = Path(__file__).resolve().parent
OWNER = "risk-team"

customer = Entity(
    "customer",
    {"customer_id": "int64"},
    description="A cardholder.",
    owner=OWNER,
)
merchant = Entity(
    "merchant",
    {"merchant_id": "int64"},
    description="A shop that takes card payments.",
    owner=OWNER,
)

customer_activity = FeatureView(
    "customer_activity",
    entities=[customer],
    source=ParquetSource(str(HERE / "customer_activity.parquet")),
    features=[
        Field("tx_count_1h", "int64", "The customer's payments in the last hour."),
        Field("tx_count_24h", "int64", "The customer's payments in the last 24 hours."),
        Field("amount_sum_24h", "float64", "What the customer spent in the last 24 hours."),
        Field("tx_count_7d", "int64", "The customer's payments in the last 7 days."),
        Field("amount_mean_7d", "float64", "The customer's mean payment over the last 7 days."),
    ],
    # A customer quiet for a week has no recent activity to speak of.
    ttl=timedelta(days=7),
    description="Rolling spend and velocity per cardholder, as of each of their payments.",
    owner=OWNER,
    tags={"team": "risk", "source": "transactions"},
)

merchant_history = FeatureView(
    "merchant_history",
    entities=[merchant],
    source=ParquetSource(str(HERE / "merchant_history.parquet")),
    features=[
        Field("merchant_tx_count", "int64", "Payments the merchant has taken to date."),
        Field(
            "merchant_fraud_rate", "float64", "Share of the merchant's payments that were fraud."
        ),
    ],
    ttl=timedelta(days=30),
    description="Each merchant's payment count and fraud rate to date.",
    owner=OWNER,
    tags={"team": "risk", "source": "transactions", "uses": "labels"},
)

payment = RequestSource("payment", [Field("amount", "float64", "The payment being scored.")])


def amount_vs_usual(inputs: pd.DataFrame) -> pd.DataFrame:
    """How many times the customer's 7-day mean this payment is (unknown without a history)."""
    return pd.DataFrame({"amount_to_mean_7d": inputs["amount"] / inputs["amount_mean_7d"]})


payment_context = OnDemandFeatureView(
    "payment_context",
    [customer_activity, payment],
    [Field("amount_to_mean_7d", "float64", "The payment over the customer's 7-day mean.")],
    amount_vs_usual,
    description="The payment's amount against the customer's recent spending.",
    owner=OWNER,
    tags={"team": "risk"},
)

fraud_features = FeatureService(
    "fraud_features",
    [customer_activity, merchant_history, payment_context],
    description="What the fraud-online model reads for each payment.",
    owner=OWNER,
    tags={"team": "risk", "model": "fraud-online"},
)
