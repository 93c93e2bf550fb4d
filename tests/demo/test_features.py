"""The demo's feature tables: trailing windows and to-date rates, and a leak-free training set.

A feature row aggregates its entity's transactions up to and including its
moment; a training example reads the features the moment before its own
transaction, so it must see exactly its strictly earlier transactions —
checked here against a row-by-row computation on a generated world.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kiln.context import Context
from kiln.demo import _features
from kiln.demo.data import generate
from kiln.features import FeatureStore, load_definitions

T0 = pd.Timestamp("2024-01-01 12:00", tz="UTC")
#: The features of the two views, in the service's order.
COLUMNS = [
    "tx_count_1h",
    "tx_count_24h",
    "amount_sum_24h",
    "tx_count_7d",
    "amount_mean_7d",
    "merchant_tx_count",
    "merchant_fraud_rate",
]


def _payments(rows: list[tuple[int, int, str, float, bool]]) -> pd.DataFrame:
    """Transactions from (customer, merchant, offset from T0, amount, fraud) tuples."""
    return pd.DataFrame(
        {
            "transaction_id": np.arange(1, len(rows) + 1, dtype=np.int64),
            "customer_id": [r[0] for r in rows],
            "merchant_id": [r[1] for r in rows],
            "event_timestamp": [T0 + pd.Timedelta(r[2]) for r in rows],
            "amount": [r[3] for r in rows],
            "is_fraud": [r[4] for r in rows],
        }
    )


def test_customer_activity_counts_trailing_windows_and_ties_together() -> None:
    tx = _payments(
        [
            (1, 9, "0h", 10.0, False),
            (1, 9, "0h", 30.0, False),  # the same moment: one row, both counted
            (2, 9, "10min", 5.0, False),
            (1, 9, "30min", 20.0, False),
            (1, 9, "2h", 40.0, False),
            (1, 9, "25h", 100.0, False),
            (1, 9, "9D", 1.0, False),  # everything else left the 7-day window
        ]
    )
    activity = _features.customer_activity(tx)
    ones = activity[activity["customer_id"] == 1].reset_index(drop=True)
    assert len(activity) == 6  # one row per customer and moment
    assert ones["tx_count_1h"].tolist() == [2, 3, 1, 1, 1]
    assert ones["tx_count_24h"].tolist() == [2, 3, 4, 2, 1]
    assert ones["amount_sum_24h"].tolist() == [40.0, 60.0, 100.0, 140.0, 1.0]
    assert ones["tx_count_7d"].tolist() == [2, 3, 4, 5, 1]
    assert ones["amount_mean_7d"].tolist() == [20.0, 20.0, 25.0, 40.0, 1.0]
    assert activity[activity["customer_id"] == 2]["tx_count_24h"].tolist() == [1]
    assert str(activity["tx_count_1h"].dtype) == "int64"


def test_merchant_history_is_to_date_with_that_moment_in() -> None:
    tx = _payments(
        [
            (1, 7, "0h", 1.0, True),
            (2, 7, "0h", 1.0, False),
            (1, 8, "1h", 1.0, False),
            (3, 7, "3D", 1.0, False),
        ]
    )
    history = _features.merchant_history(tx)
    sevens = history[history["merchant_id"] == 7]
    assert sevens["merchant_tx_count"].tolist() == [2, 3]
    assert sevens["merchant_fraud_rate"].tolist() == pytest.approx([0.5, 1 / 3])
    assert history[history["merchant_id"] == 8]["merchant_fraud_rate"].tolist() == [0.0]


def _world() -> pd.DataFrame:
    """A small generated window, with payments moved onto an earlier one of the same customer."""
    tx = generate(
        seed=3, n_customers=40, n_merchants=8, n_transactions=500, days=30
    ).transactions.copy()
    previous = tx.groupby("customer_id")["event_timestamp"].shift()
    twins = tx.index[previous.notna()][::25]
    tx.loc[twins, "event_timestamp"] = previous[twins]  # ties: one customer twice at a moment
    return tx.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def _expected(tx: pd.DataFrame) -> pd.DataFrame:
    """Row by row: what each payment should see, from its strictly earlier payments only."""
    times = tx["event_timestamp"].to_numpy()
    amounts = tx["amount"].to_numpy()
    fraud = tx["is_fraud"].to_numpy()
    rows = []
    for i in range(len(tx)):
        asked = times[i] - np.timedelta64(1, "us")
        row: dict[str, float | None] = {}
        mine = (tx["customer_id"].to_numpy() == tx.at[i, "customer_id"]) & (times < times[i])
        if mine.any() and times[mine].max() >= asked - np.timedelta64(7, "D"):
            last = times[mine].max()
            for name, window in (("1h", "1h"), ("24h", "24h"), ("7d", "7D")):
                inside = mine & (times > last - pd.Timedelta(window).to_timedelta64())
                row[f"tx_count_{name}"] = float(inside.sum())
                if name == "24h":
                    row["amount_sum_24h"] = round(float(amounts[inside].sum()), 2)
                if name == "7d":
                    row["amount_mean_7d"] = round(float(amounts[inside].mean()), 2)
        theirs = (tx["merchant_id"].to_numpy() == tx.at[i, "merchant_id"]) & (times < times[i])
        if theirs.any() and times[theirs].max() >= asked - np.timedelta64(30, "D"):
            row["merchant_tx_count"] = float(theirs.sum())
            row["merchant_fraud_rate"] = float(fraud[theirs].mean())
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)


def test_the_training_set_sees_only_strictly_earlier_payments(
    make_context: Callable[..., Context], tmp_path: Path
) -> None:
    tx = _world()
    folder = tmp_path / "features"
    rows = _features.write_feature_tables(tx, folder)
    definitions = load_definitions(_features.install_definitions(folder))  # finds its tables
    assert rows["customer_activity"] < len(tx)  # the ties share a row
    store = FeatureStore(make_context())
    training = store.get_historical_features(
        _features.training_entities(tx),
        definitions.services[_features.SERVICE],
        timestamp=_features.SCORED_AT,
        views=[*definitions.views.values(), *definitions.on_demand.values()],
    )
    assert training["transaction_id"].tolist() == tx["transaction_id"].tolist()
    expected = _expected(tx)
    got = training[COLUMNS].astype("float64")
    pd.testing.assert_frame_equal(got, expected, check_exact=False, atol=0.011)
    first = ~tx.duplicated("customer_id", keep="first")
    assert training.loc[first, "tx_count_24h"].isna().all()  # no history yet: nulls
    ratio = training["amount"] / training["amount_mean_7d"]
    pd.testing.assert_series_equal(
        training["amount_to_mean_7d"], ratio, check_names=False, check_exact=False
    )
    assert definitions.views["customer_activity"].ttl == timedelta(days=7)
