"""What the demo's pipeline trains: the joined table, its features, three fraud classifiers.

Features are computed here, once, for the pipeline's ``features`` step and
for scoring later windows; the feature store (a later stage) will own them.
Training uses the first 75 % of the window by time and scores the last 25 %,
as a deployed model would meet the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from kiln.demo.data import DemoData

FEATURES = [
    "amount",
    "amount_to_typical",
    "amount_to_limit",
    "hour",
    "is_night",
    "is_foreign",
    "card_present",
    "is_online",
    "distance_from_home_km",
    "merchant_risk",
]
LABEL = "is_fraud"


def join_tables(
    transactions: pd.DataFrame, customers: pd.DataFrame, merchants: pd.DataFrame
) -> pd.DataFrame:
    """Transactions with their customer's and merchant's columns (what the pipeline ingests)."""
    people = customers[["customer_id", "age", "typical_amount", "credit_limit"]]
    shops = merchants[["merchant_id", "category", "risk_score"]]
    return transactions.merge(people, on="customer_id", how="left").merge(
        shops, on="merchant_id", how="left"
    )


def features_of(tx: pd.DataFrame) -> pd.DataFrame:
    """One row per joined transaction: the model's features, the label and the time."""
    frame = pd.DataFrame(
        {
            "event_timestamp": tx["event_timestamp"],
            "amount": tx["amount"].astype("float64"),
            "amount_to_typical": (tx["amount"] / tx["typical_amount"]).astype("float64"),
            "amount_to_limit": (tx["amount"] / tx["credit_limit"]).astype("float64"),
            "hour": tx["hour"].astype("int64"),
            "is_night": (tx["hour"] < 6).astype("int64"),
            "is_foreign": tx["is_foreign"].astype("int64"),
            "card_present": tx["card_present"].astype("int64"),
            "is_online": (tx["channel"] == "online").astype("int64"),
            "distance_from_home_km": tx["distance_from_home_km"].astype("float64"),
            "merchant_risk": tx["risk_score"].astype("float64"),
            LABEL: tx[LABEL].astype("int64"),
        }
    )
    return frame.sort_values("event_timestamp", kind="stable").reset_index(drop=True)


def feature_frame(data: DemoData) -> pd.DataFrame:
    """The features of a generated window, computed as the pipeline computes them."""
    return features_of(join_tables(data.transactions, data.customers, data.merchants))


def split_by_time(
    frame: pd.DataFrame, train_share: float = 0.75
) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(frame) * train_share)
    return frame.iloc[:cut], frame.iloc[cut:]


@dataclass(frozen=True)
class Candidate:
    name: str
    run_id: str
    model_uri: str
    auc: float
    average_precision: float
    seconds: float


def candidate_models(seed: int) -> dict[str, tuple[Any, dict[str, Any]]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from xgboost import XGBClassifier

    return {
        "logistic-regression": (
            make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500)),
            {"model": "logistic_regression", "C": 1.0, "max_iter": 500},
        ),
        "hist-gradient-boosting": (
            HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, random_state=seed),
            {"model": "hist_gradient_boosting", "max_iter": 100, "learning_rate": 0.1},
        ),
        "xgboost": (
            XGBClassifier(
                n_estimators=200,
                max_depth=4,
                learning_rate=0.1,
                subsample=0.9,
                random_state=seed,
                n_jobs=2,
                eval_metric="auc",
            ),
            {"model": "xgboost", "n_estimators": 200, "max_depth": 4, "learning_rate": 0.1},
        ),
    }
