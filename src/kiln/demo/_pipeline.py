"""The demo's training pipeline: ingest → check → features → train → evaluate → register.

A module-level pipeline, so a paused run can be resumed from the command
line (``kiln pipelines resume RUN``) by importing it again. Its input is the
content digests of the window's Parquet tables in the artifact store, so a
cache hit means "the same bytes", never "the same file name".

The gate holds the demo's data contract, written by hand as a team would:
ids unique, amounts present and positive, the known channels, adult ages.
Given a ``reference`` version it also checks row loss and drift against it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

import kiln.data
from kiln.pipelines import pipeline, step

DATASET = "demo-transactions"
EXPERIMENT = "fraud"
MODEL_NAMES = ["logistic-regression", "hist-gradient-boosting", "xgboost"]

#: What every window of transactions must hold (other columns are only profiled).
CONTRACT: dict[str, Any] = {
    "columns": [
        {"name": "transaction_id", "type": "int64", "nullable": False, "unique": True},
        {"name": "amount", "type": "double", "nullable": False, "min": 0.01},
        {
            "name": "channel",
            "type": "string",
            "nullable": False,
            "categories": ["contactless", "in_store", "online"],
        },
        {"name": "age", "type": "int64", "nullable": False, "min": 18, "max": 110},
        {"name": "is_fraud", "type": "bool", "nullable": False},
    ],
    "allow_extra_columns": True,
}


@step
def ingest(tables: dict[str, str]) -> str:
    """Join the window's tables into one transactions dataset version; return its ref."""
    from kiln.context import get_context
    from kiln.demo._training import join_tables

    store = get_context().artifacts
    frames = {}
    for name, digest in tables.items():
        with store.open(digest) as stream:
            frames[name] = pd.read_parquet(stream)
    joined = join_tables(frames["transactions"], frames["customers"], frames["merchants"])
    version = kiln.data.register_dataset(
        joined, DATASET, description="Card transactions joined with customers and merchants."
    )
    print(f"{DATASET}@{version.version}: {version.num_rows:,} rows")
    return version.uri


@step
def features(ref: str) -> pd.DataFrame:
    """The model's features, computed once from the checked dataset version."""
    from kiln.demo._training import features_of

    return features_of(kiln.data.load(ref))


@step
def train(name: str, frame: pd.DataFrame, seed: int = 7) -> dict[str, Any]:
    """Fit model ``name`` on the first 75 % of the window, in a tracked run; log the model."""
    import time

    import kiln
    from kiln.demo._training import FEATURES, LABEL, candidate_models, split_by_time
    from kiln.models import log_model

    model, params = candidate_models(seed)[name]
    fit_rows, holdout = split_by_time(frame)
    with kiln.start_run(
        experiment=EXPERIMENT, run_name=name, tags={"kiln.demo": "training"}
    ) as run:
        kiln.log_params({**params, "features": len(FEATURES), "seed": seed})
        kiln.log_input(fit_rows, name="demo-transactions-features", context="training")
        started = time.perf_counter()
        model.fit(fit_rows[FEATURES], fit_rows[LABEL].to_numpy())
        seconds = time.perf_counter() - started
        kiln.log_metric("fit_seconds", seconds)
        logged = log_model(model, "model", input_example=holdout[FEATURES].head(20))
    return {"name": name, "run_id": run.id, "model_uri": logged.uri, "fit_seconds": seconds}


@step
def evaluate(trained: dict[str, Any], frame: pd.DataFrame) -> dict[str, Any]:
    """Score the last 25 % of the window (the future, to the model); log it to the run."""
    import numpy as np
    from sklearn.metrics import average_precision_score, roc_auc_score

    import kiln
    from kiln.demo._training import FEATURES, LABEL, split_by_time

    _, holdout = split_by_time(frame)
    model = kiln.load_model(trained["model_uri"])
    scores = np.asarray(model.predict_proba(holdout[FEATURES]))[:, 1]
    truth = holdout[LABEL].to_numpy()
    metrics = {
        "auc": float(roc_auc_score(truth, scores)),
        "average_precision": float(average_precision_score(truth, scores)),
        "fraud_rate_test": float(truth.mean()),
    }
    with kiln.start_run(trained["run_id"]):
        kiln.log_input(holdout, name="demo-transactions-features-holdout", context="evaluation")
        kiln.log_metrics(metrics)
    return {**trained, **metrics}


@step
def register(
    evaluated: list[dict[str, Any]], model: str = "fraud-detector"
) -> list[dict[str, Any]]:
    """Register the two best candidates as new versions of ``model``, best first."""
    from kiln import registry

    ranked = sorted(evaluated, key=lambda candidate: candidate["auc"], reverse=True)
    registered = []
    for candidate in ranked[:2]:
        version = registry.register_model(
            candidate["model_uri"], model, description="Card-fraud classifier (kiln demo)."
        )
        registered.append({**candidate, "version": version.version})
    return registered + [{**candidate, "version": None} for candidate in ranked[2:]]


@pipeline
def fraud_training(tables: dict[str, str], reference: str | None = None, seed: int = 7) -> Any:
    """Ingest a window, check it against the contract (and ``reference``), train, register."""
    ref = ingest(tables)
    checked = kiln.data.check(ref, CONTRACT, reference=reference, name="check")
    frame = features(checked)
    trained = train.map(MODEL_NAMES, frame=frame, seed=seed)
    return register([evaluate(candidate, frame) for candidate in trained])
