"""LightGBM autolog: ``lightgbm.train`` and ``LGBMClassifier.fit``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import kiln
from kiln.context import Context
from kiln.tracking import RunStatus
from tests.autolog.conftest import artifact_paths, history, load_logged_model, only_run, runs


def test_train_logs_params_per_iteration_metrics_and_the_booster(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification
    train = lgb.Dataset(x[:150], y[:150])
    valid = lgb.Dataset(x[150:], y[150:], reference=train)
    recorded: dict[str, Any] = {}

    booster = lgb.train(
        {"objective": "binary", "metric": ["binary_logloss", "auc"], "verbose": -1},
        train,
        num_boost_round=15,
        valid_sets=[train, valid],
        valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(recorded)],
    )

    run = only_run()
    assert run.name == "lightgbm.train"
    assert run.status is RunStatus.FINISHED
    assert run.params["objective"] == "binary"
    assert run.params["num_boost_round"] == "15"
    for data in ("train", "valid"):
        for metric in ("binary_logloss", "auc"):
            assert history(run, f"{data}-{metric}") == list(enumerate(recorded[data][metric]))
    assert "best_iteration" not in run.metrics
    (dataset,) = run.inputs
    assert json.loads(dataset.profile) == {"rows": 150, "columns": 6}
    importance = json.loads(
        kiln.download_artifacts(run.id, "feature_importance.json", tmp_path).read_text()
    )
    assert list(importance["split"].values()) == booster.feature_importance("split").tolist()
    loaded = load_logged_model(run, tmp_path)
    np.testing.assert_allclose(loaded.predict(x), booster.predict(x))
    assert loaded.signature is not None


def test_train_with_early_stopping_logs_the_best_scores(
    autologged: Context, regression: tuple[Any, Any]
) -> None:
    x, y = regression
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    train = lgb.Dataset(frame[:150], y[:150])
    valid = lgb.Dataset(frame[150:], y[150:], reference=train)

    booster = lgb.train(
        {"objective": "regression", "learning_rate": 0.5, "verbose": -1},
        train,
        num_boost_round=300,
        valid_sets=[valid],
        callbacks=[lgb.early_stopping(3, verbose=False)],
    )

    run = only_run()
    assert booster.best_iteration > 0
    assert run.metrics["best_iteration"].value == booster.best_iteration
    assert run.metrics["best_valid_0-l2"].value == pytest.approx(
        booster.best_score["valid_0"]["l2"]
    )


def test_classifier_fit_logs_once_with_its_eval_history(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification

    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1)
    model.fit(x[:150], y[:150], eval_X=(x[150:],), eval_y=(y[150:],))

    run = only_run()  # the wrapper's internal lightgbm.train is not a second run
    assert run.name == "LGBMClassifier"
    assert run.params["num_leaves"] == "7"
    assert run.tags["estimator_class"] == "lightgbm.sklearn.LGBMClassifier"
    assert history(run, "valid_0-binary_logloss") == list(
        enumerate(model.evals_result_["valid_0"]["binary_logloss"])
    )
    assert "feature_importance.json" in artifact_paths(run)
    loaded = load_logged_model(run, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))


def test_a_search_over_a_wrapper_logs_the_search_and_its_candidates_only(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    from sklearn.model_selection import GridSearchCV

    x, y = classification
    search = GridSearchCV(
        lgb.LGBMClassifier(n_estimators=5, verbose=-1), {"num_leaves": [3, 7]}, cv=2
    )

    search.fit(x, y)

    parent, *children = runs()
    assert parent.name == "GridSearchCV"
    assert parent.params["best_num_leaves"] == str(search.best_params_["num_leaves"])
    assert sorted(child.params["num_leaves"] for child in children) == ["3", "7"]
