"""The demo's training stage: three fraud classifiers, tracked, the best registered.

Features are computed here from the generated tables; the feature store (a
later stage) will own them. Training uses the first 75 % of the window by
time and scores the last 25 %, as a deployed model would meet the future.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
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


def feature_frame(data: DemoData) -> pd.DataFrame:
    """One row per transaction: the model's features, the label and the time."""
    tx = data.transactions.merge(
        data.customers[["customer_id", "typical_amount", "credit_limit"]], on="customer_id"
    ).merge(data.merchants[["merchant_id", "risk_score"]], on="merchant_id")
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


def _models(seed: int) -> dict[str, tuple[Any, dict[str, Any]]]:
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


def train_candidates(data: DemoData, *, seed: int, experiment: str) -> list[Candidate]:
    """Train, evaluate and log each model in its own run; return them best first."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    import kiln
    from kiln.models import log_model

    frame = feature_frame(data)
    train, test = split_by_time(frame)
    x_train, y_train = train[FEATURES], train[LABEL].to_numpy()
    x_test, y_test = test[FEATURES], test[LABEL].to_numpy()
    kiln.set_experiment(experiment)
    candidates = []
    for name, (model, params) in _models(seed).items():
        with kiln.start_run(run_name=name, tags={"kiln.demo": "training"}) as run:
            kiln.log_params({**params, "features": len(FEATURES), "seed": seed})
            kiln.log_input(train, name="demo-transactions-features", context="training")
            kiln.log_input(test, name="demo-transactions-features-holdout", context="evaluation")
            started = time.perf_counter()
            model.fit(x_train, y_train)
            seconds = time.perf_counter() - started
            scores = np.asarray(model.predict_proba(x_test))[:, 1]
            auc = float(roc_auc_score(y_test, scores))
            average_precision = float(average_precision_score(y_test, scores))
            kiln.log_metrics(
                {
                    "auc": auc,
                    "average_precision": average_precision,
                    "fit_seconds": seconds,
                    "fraud_rate_test": float(y_test.mean()),
                }
            )
            logged = log_model(model, "model", input_example=x_test.head(20))
        candidates.append(Candidate(name, run.id, logged.uri, auc, average_precision, seconds))
    return sorted(candidates, key=lambda c: c.auc, reverse=True)
