"""scikit-learn autolog: params, training metrics, datasets, models, pipelines, searches."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import kiln
from kiln.autolog import autolog
from kiln.context import Context
from kiln.models import read_manifest
from kiln.tracking import RunStatus
from tests.autolog.conftest import artifact_paths, load_logged_model, only_run, runs


def test_classifier_logs_params_metrics_dataset_and_model(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification

    model = LogisticRegression(C=0.5, max_iter=200).fit(x, y)

    run = only_run()
    assert run.name == "LogisticRegression"
    assert run.status is RunStatus.FINISHED
    assert run.params["C"] == "0.5"
    assert run.params["max_iter"] == "200"
    assert run.params["class_weight"] == "None"
    assert run.tags["estimator_name"] == "LogisticRegression"
    assert run.tags["estimator_class"] == "sklearn.linear_model._logistic.LogisticRegression"
    predicted, proba = model.predict(x), model.predict_proba(x)
    expected = {
        "training_accuracy_score": metrics.accuracy_score(y, predicted),
        "training_precision_score": metrics.precision_score(y, predicted, average="weighted"),
        "training_recall_score": metrics.recall_score(y, predicted, average="weighted"),
        "training_f1_score": metrics.f1_score(y, predicted, average="weighted"),
        "training_log_loss": metrics.log_loss(y, proba),
        "training_roc_auc": metrics.roc_auc_score(y, proba[:, 1]),
        "training_score": model.score(x, y),
    }
    assert {key: m.value for key, m in run.metrics.items()} == pytest.approx(expected)
    (dataset,) = run.inputs
    assert dataset.context == "training"
    assert json.loads(dataset.profile) == {"rows": 200, "columns": 6}
    loaded = load_logged_model(run, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), predicted)
    np.testing.assert_allclose(loaded.predict_proba(x), proba)
    assert loaded.signature is not None
    assert loaded.signature.kind == "ndarray"
    assert loaded.signature.inputs[0].shape == (-1, 5)
    assert "model/input_example.json" in artifact_paths(run)


def test_multiclass_metrics_use_one_vs_rest(
    autologged: Context, multiclass: tuple[Any, Any]
) -> None:
    x, y = multiclass

    model = LogisticRegression(max_iter=500).fit(x, y)

    run = only_run()
    proba = model.predict_proba(x)
    assert run.metrics["training_roc_auc"].value == pytest.approx(
        metrics.roc_auc_score(y, proba, multi_class="ovr", average="weighted")
    )
    assert run.metrics["training_log_loss"].value == pytest.approx(metrics.log_loss(y, proba))


def test_regressor_metrics_with_sample_weight(
    autologged: Context, regression: tuple[Any, Any]
) -> None:
    x, y = regression
    weights = np.linspace(0.5, 1.5, len(y))

    model = Ridge(alpha=0.3).fit(x, y, sample_weight=weights)

    run = only_run()
    predicted = model.predict(x)
    mse = metrics.mean_squared_error(y, predicted, sample_weight=weights)
    expected = {
        "training_mean_squared_error": mse,
        "training_root_mean_squared_error": math.sqrt(mse),
        "training_mean_absolute_error": metrics.mean_absolute_error(
            y, predicted, sample_weight=weights
        ),
        "training_r2_score": metrics.r2_score(y, predicted, sample_weight=weights),
        "training_score": model.score(x, y, sample_weight=weights),
    }
    assert {key: m.value for key, m in run.metrics.items()} == pytest.approx(expected)
    assert run.params["alpha"] == "0.3"


def test_dataframe_input_gives_a_named_example_and_signature(
    autologged: Context, regression: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = regression
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])

    model = LinearRegression().fit(frame, pd.Series(y, name="price"))

    run = only_run()
    loaded = load_logged_model(run, tmp_path)
    assert loaded.signature is not None
    assert [spec.name for spec in loaded.signature.inputs] == ["a", "b", "c", "d"]
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    (dataset,) = run.inputs
    assert [column["name"] for column in json.loads(dataset.schema)] == [
        "a",
        "b",
        "c",
        "d",
        "price",
    ]


def test_pipeline_logs_once(autologged: Context, classification: tuple[Any, Any]) -> None:
    x, y = classification

    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)

    run = only_run()
    assert run.name == "Pipeline"
    assert {"steps", "memory", "verbose"} <= set(run.params)
    assert "C" not in run.params
    assert run.metrics["training_accuracy_score"].value == pytest.approx(pipeline.score(x, y))


def test_pipeline_fit_transform_through_its_descriptor_logs_once(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, _ = classification
    pipeline = Pipeline([("scale", StandardScaler())])

    transformed = pipeline.fit_transform(x)

    np.testing.assert_allclose(transformed, StandardScaler().fit_transform(x))
    run = only_run()
    assert run.name == "Pipeline"
    assert "model/kiln-model.yaml" not in artifact_paths(run)  # no predict: nothing to serve
    assert not hasattr(make_pipeline(LogisticRegression()), "fit_transform")


def test_fit_predict_of_a_clusterer(autologged: Context, classification: tuple[Any, Any]) -> None:
    x, _ = classification

    labels = KMeans(n_clusters=3, n_init=2, random_state=0).fit_predict(x)

    assert len(labels) == len(x)
    run = only_run()
    assert run.name == "KMeans"
    assert run.params["n_clusters"] == "3"
    assert "model/model.skops" in artifact_paths(run)


def test_grid_search_logs_best_params_cv_results_and_candidates(
    autologged: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification
    search = GridSearchCV(LogisticRegression(), {"C": [0.01, 0.1, 1.0]}, cv=3)

    search.fit(x, y)

    parent, *children = runs()
    assert parent.name == "GridSearchCV"
    assert parent.params["best_C"] == str(search.best_params_["C"])
    assert parent.params["cv"] == "3"
    assert parent.metrics["best_cv_score"].value == pytest.approx(search.best_score_)
    assert parent.metrics["training_accuracy_score"].value == pytest.approx(search.score(x, y))
    assert {"cv_results.parquet", "model/model.skops"} <= artifact_paths(parent)
    table = pd.read_parquet(kiln.download_artifacts(parent.id, "cv_results.parquet", tmp_path))
    assert list(table["mean_test_score"]) == pytest.approx(search.cv_results_["mean_test_score"])
    assert len(children) == 3  # one per candidate; no run for the 9 + 1 inner fits
    assert {child.parent_run_id for child in children} == {parent.id}
    by_c = {child.params["C"]: child for child in children}
    for index, params in enumerate(search.cv_results_["params"]):
        child = by_c[str(params["C"])]
        assert child.metrics["mean_test_score"].value == pytest.approx(
            search.cv_results_["mean_test_score"][index]
        )
        assert (
            child.metrics["rank_test_score"].value == search.cv_results_["rank_test_score"][index]
        )
    loaded = load_logged_model(parent, tmp_path)
    np.testing.assert_array_equal(loaded.predict(x), search.predict(x))


def test_threaded_inner_fits_are_not_logged(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, _ = classification

    IsolationForest(n_estimators=8, n_jobs=2, random_state=0).fit(x)

    assert only_run().name == "IsolationForest"


def test_options_turn_models_examples_and_datasets_off(
    store: Context, classification: tuple[Any, Any], tmp_path: Path
) -> None:
    x, y = classification

    autolog(log_models=False)
    LogisticRegression().fit(x, y)
    autolog(log_input_examples=False, log_datasets=False)
    LogisticRegression().fit(x, y)

    without_model, without_example = runs()
    assert "model/kiln-model.yaml" not in artifact_paths(without_model)
    assert without_model.inputs
    assert without_model.metrics["training_accuracy_score"].value > 0.5
    assert not without_example.inputs
    assert "model/input_example.json" not in artifact_paths(without_example)
    folder = kiln.models.download_run_model(without_example.id, "model", tmp_path / "m")
    manifest = read_manifest(folder)
    assert manifest.signature is not None
    assert manifest.input_example is None


def test_excluded_and_unpatched_estimators_log_nothing(
    autologged: Context, classification: tuple[Any, Any]
) -> None:
    x, _ = classification

    StandardScaler().fit(x)

    assert runs() == []
