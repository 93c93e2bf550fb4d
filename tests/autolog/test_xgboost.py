"""XGBoost autolog: ``xgboost.train`` and ``XGBClassifier.fit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import kiln
from kiln.autolog import autolog
from kiln.context import Context
from kiln.models import download_run_model, read_manifest
from kiln.tracking import RunStatus
from tests.autolog.conftest import artifact_paths, history, load_logged_model, only_run


def test_train_logs_params_per_iteration_metrics_and_the_booster(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification
    train = xgb.DMatrix(x[:150], y[:150])
    valid = xgb.DMatrix(x[150:], y[150:])
    params = {"objective": "binary:logistic", "max_depth": 3, "eval_metric": ["logloss", "auc"]}
    evals_result: dict[str, Any] = {}

    booster = xgb.train(
        params,
        train,
        num_boost_round=12,
        evals=[(train, "train"), (valid, "eval")],
        evals_result=evals_result,
        verbose_eval=False,
    )

    run = only_run()
    assert run.name == "xgboost.train"
    assert run.status is RunStatus.FINISHED
    assert run.params == {
        "objective": "binary:logistic",
        "max_depth": "3",
        "eval_metric": "['logloss', 'auc']",
        "num_boost_round": "12",
    }
    for data in ("train", "eval"):
        for metric in ("logloss", "auc"):
            assert history(run, f"{data}-{metric}") == list(enumerate(evals_result[data][metric]))
    assert "best_iteration" not in run.metrics
    importance = json.loads(
        kiln.download_artifacts(run.id, "feature_importance.json", tmp_path).read_text()
    )
    assert importance["weight"] == booster.get_score(importance_type="weight")
    assert set(importance) == {"weight", "gain"}
    loaded = load_logged_model(run, tmp_path)
    np.testing.assert_allclose(loaded.predict(x), booster.predict(xgb.DMatrix(x)))
    assert loaded.signature is not None
    assert loaded.signature.inputs[0].shape == (-1, 5)


def test_train_with_early_stopping_and_param_pairs(
    autologged: Context, regression: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = regression
    names = ["a", "b", "c", "d"]
    train = xgb.DMatrix(pd.DataFrame(x[:150], columns=names), y[:150])
    valid = xgb.DMatrix(pd.DataFrame(x[150:], columns=names), y[150:])

    booster = xgb.train(
        [("eta", 0.9), ("eval_metric", "rmse"), ("eval_metric", "mae")],
        train,
        num_boost_round=200,
        evals=[(valid, "valid")],
        early_stopping_rounds=3,
        verbose_eval=False,
    )

    run = only_run()
    assert run.params["early_stopping_rounds"] == "3"
    assert run.params["eval_metric"] == "['rmse', 'mae']"
    assert run.metrics["best_iteration"].value == booster.best_iteration
    assert run.metrics["best_score"].value == pytest.approx(booster.best_score)
    steps = [step for step, _ in history(run, "valid-rmse")]
    assert steps == list(range(booster.num_boosted_rounds()))
    loaded = load_logged_model(run, tmp_path)
    assert loaded.signature is not None
    assert [spec.name for spec in loaded.signature.inputs] == names


def test_classifier_fit_logs_once_with_its_eval_history(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification

    model = xgb.XGBClassifier(n_estimators=8, max_depth=2, eval_metric="logloss")
    model.fit(x[:150], y[:150], eval_set=[(x[:150], y[:150]), (x[150:], y[150:])], verbose=False)

    run = only_run()  # the wrapper's internal xgboost training is not a second run
    assert run.name == "XGBClassifier"
    assert run.params["n_estimators"] == "8"
    assert run.params["max_depth"] == "2"
    assert run.tags["estimator_class"] == "xgboost.sklearn.XGBClassifier"
    results = model.evals_result()
    assert history(run, "validation_1-logloss") == list(
        enumerate(results["validation_1"]["logloss"])
    )
    assert "validation_0-logloss" in run.metrics
    assert run.inputs[0].context == "training"
    assert "feature_importance.json" in artifact_paths(run)
    loaded = load_logged_model(run, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))


def test_inside_a_pipeline_only_the_pipeline_logs(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, y = classification

    make_pipeline(StandardScaler(), xgb.XGBClassifier(n_estimators=3)).fit(x, y)

    run = only_run()
    assert run.name == "Pipeline"
    assert "n_estimators" not in run.params


def test_train_without_input_examples_still_has_a_signature(
    store: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification
    autolog(log_input_examples=False)

    xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, y), num_boost_round=3)

    folder = download_run_model(only_run().id, "model", tmp_path / "model")
    manifest = read_manifest(folder)
    assert manifest.input_example is None
    assert manifest.signature is not None
    assert manifest.signature.outputs[0].dtype == "float32"
