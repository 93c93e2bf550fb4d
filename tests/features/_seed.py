"""A feature store to look at: applied definitions, real materializations, models using them.

For the HTTP and browser tests, which look at a store through a server
process or thread. Through the public paths only: ``FeatureStore.apply``
and ``materialize`` over Parquet files, and registry versions carrying the
``kiln.feature_service`` / ``kiln.feature_views`` / ``kiln.features`` tags
training code records.

- ``customer_stats`` (owner ``risk-team``, tags team=risk): applied twice (the
  ttl went from 36 h to 24 h, so v2), materialized: customers 1 and 2 online
  (2 h and 5 h old), customer 3 is 30 h old, beyond the ttl, never written;
- ``merchant_risk`` (owner ``fraud-team``): applied, materialized;
- ``clicks``: a push source, nothing pushed;
- ``spend_share``: an on-demand view of ``customer_stats`` and a payment's amount;
- ``fraud``: a service of all of ``customer_stats`` and ``merchant_risk:risk``;
- ``risk-scorer`` v1 trained on ``fraud`` (customer_stats v1, merchant_risk v1),
  ``churn-scorer`` v1 on customer_stats v2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from kiln.auth import ensure_project
from kiln.config import Settings
from kiln.context import Context
from kiln.features import (
    Definitions,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    OnDemandFeatureView,
    ParquetSource,
    PushSource,
    RequestSource,
)
from kiln.registry._versions import create_model_version

WHEN = pa.timestamp("us", tz="UTC")
CUSTOMER = Entity("customer", {"customer_id": "int64"}, owner="risk-team")
MERCHANT = Entity("merchant", {"merchant_id": "string"}, owner="fraud-team")


@dataclass(frozen=True)
class FeatureSeed:
    folder: Path
    now: datetime
    project: str


def definitions(folder: Path, *, ttl_hours: float = 24) -> Definitions:
    stats = FeatureView(
        "customer_stats",
        [CUSTOMER],
        ParquetSource(str(folder / "stats.parquet")),
        [
            Field("spend", "float64", "Spend over the last 7 days"),
            Field("segment", "string"),
            Field("active", "bool"),
        ],
        ttl=timedelta(hours=ttl_hours),
        description="Spending of each customer",
        owner="risk-team",
        tags={"team": "risk"},
    )
    merchants = FeatureView(
        "merchant_risk",
        [MERCHANT],
        ParquetSource(str(folder / "merchants.parquet")),
        [Field("risk", "float64")],
        owner="fraud-team",
        tags={"team": "fraud"},
    )
    clicks = FeatureView(
        "clicks",
        [CUSTOMER],
        PushSource(str(folder / "pushed")),
        [Field("count", "int64"), Field("rate", "float64"), Field("last_seen", "timestamp")],
        description="Clicks pushed by the web tier",
    )
    share = OnDemandFeatureView(
        "spend_share",
        [stats, RequestSource("payment", [Field("amount", "float64")])],
        [Field("amount_share", "float64", "The payment as a share of the 7-day spend")],
        amount_share,
        description="How big a payment is for its customer",
        owner="risk-team",
    )
    fraud = FeatureService(
        "fraud", [stats, "merchant_risk:risk"], description="What the fraud model reads"
    )
    return Definitions.of(stats, merchants, clicks, share, fraud, where="seed")


def amount_share(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_share": frame["amount"] / frame["spend"]})


def _write(folder: Path, now: datetime) -> None:
    def ago(hours: float) -> datetime:
        return now - timedelta(hours=hours)

    pq.write_table(
        pa.table(
            {
                "customer_id": pa.array([1, 1, 2, 3], pa.int64()),
                "event_timestamp": pa.array([ago(8), ago(2), ago(5), ago(30)], WHEN),
                "spend": [10.0, 12.5, 40.0, 7.0],
                "segment": ["gold", "gold", "silver", "gold"],
                "active": [True, True, False, True],
            }
        ),
        folder / "stats.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "merchant_id": ["m1", "m2"],
                "event_timestamp": pa.array([ago(1), ago(3)], WHEN),
                "risk": [0.25, 0.75],
            }
        ),
        folder / "merchants.parquet",
    )


def seed_features(settings: Settings, folder: Path) -> FeatureSeed:
    """Fill the project of ``settings`` as the module says; its online store too."""
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    _write(folder, now)
    context = Context(settings)
    project = settings.project
    try:
        context.db.run(ensure_project, project)
        store = FeatureStore(context)
        store.apply(definitions(folder, ttl_hours=36), user="seed")
        store.apply(definitions(folder), user="seed")
        store.materialize(["customer_stats", "merchant_risk"], end=now, user="seed")
        for model, tags in (
            (
                "risk-scorer",
                {
                    "kiln.feature_service": "fraud",
                    "kiln.feature_views": json.dumps({"customer_stats": 1, "merchant_risk": 1}),
                    "kiln.features": json.dumps(
                        ["customer_stats:spend", "customer_stats:segment", "merchant_risk:risk"]
                    ),
                },
            ),
            ("churn-scorer", {"kiln.feature_views": json.dumps({"customer_stats": 2})}),
        ):
            context.db.run(
                create_model_version,
                project,
                model,
                str(folder / model),
                create_model=True,
                require_manifest=False,
                tags=tags,
            )
        store.close()
    finally:
        context.close()
    return FeatureSeed(folder, now, project)
