"""The sklearn flavor: skops files, trusted types, pipelines on DataFrames."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, RidgeClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from kiln.errors import Conflict, PermissionDenied
from kiln.models import Predictor, load_model, read_manifest, save_model


class MajorityClassifier(ClassifierMixin, BaseEstimator):
    """A scikit-learn estimator from outside scikit-learn: skops does not trust its type."""

    def fit(self, features: Any, y: Any) -> MajorityClassifier:
        values, counts = np.unique(y, return_counts=True)
        self.majority_ = values[np.argmax(counts)]
        return self

    def predict(self, features: Any) -> Any:
        return np.full(len(features), self.majority_)


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 300),
            "hour": rng.integers(0, 24, 300),
            "channel": rng.choice(["web", "pos", "atm"], 300),
        }
    )
    labels = ((frame["amount"] > 120) & (frame["channel"] != "pos")).to_numpy().astype(int)
    return frame, labels


def test_logistic_regression_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features, labels = rng.random((200, 5)), rng.integers(0, 2, 200)
    model = LogisticRegression().fit(features, labels)

    info = save_model(model, tmp_path / "lr", input_example=features[:10])
    loaded = load_model(tmp_path / "lr")

    assert info.flavor == "sklearn"
    assert info.manifest.serialization == "skops"
    assert [entry.path for entry in info.files] == [
        "MLmodel",  # so MLflow can load it too (hashed like every file)
        "input_example.json",
        "model.skops",
        "kiln-model.yaml",
    ]
    assert isinstance(loaded, Predictor)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))
    assert loaded.signature is not None
    assert loaded.signature.kind == "ndarray"


def test_pipeline_with_column_transformer_on_a_dataframe(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = table
    pipeline = Pipeline(
        [
            (
                "prepare",
                ColumnTransformer(
                    [
                        ("numbers", StandardScaler(), ["amount", "hour"]),
                        ("channel", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
                    ]
                ),
            ),
            ("classify", LogisticRegression()),
        ]
    ).fit(frame, labels)

    info = save_model(pipeline, tmp_path / "pipe", input_example=frame.head(20))
    loaded = load_model(tmp_path / "pipe")

    assert info.flavor == "sklearn"
    assert info.manifest.input_example == "input_example.parquet"
    assert info.manifest.signature is not None
    assert info.manifest.signature.input_names == ["amount", "hour", "channel"]
    assert "pandas" in {pin.split("==")[0] for pin in info.manifest.requirements}
    np.testing.assert_array_equal(loaded.predict(frame), pipeline.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), pipeline.predict_proba(frame))
    # columns in another order and an extra one: reordered and dropped
    shuffled = frame[["channel", "amount", "hour"]].assign(note="x")
    np.testing.assert_array_equal(loaded.predict(shuffled), pipeline.predict(frame))


def test_hist_gradient_boosting_round_trip_records_its_untrusted_types(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = table
    numeric = frame[["amount", "hour"]]
    model = HistGradientBoostingClassifier(max_iter=20).fit(numeric, labels)

    info = save_model(model, tmp_path / "hgb", input_example=numeric.head(5))
    loaded = load_model(tmp_path / "hgb")

    untrusted = info.manifest.flavor_options["untrusted_types"]
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in untrusted
    np.testing.assert_array_equal(loaded.predict(numeric), model.predict(numeric))
    np.testing.assert_allclose(loaded.predict_proba(numeric), model.predict_proba(numeric))


def test_native_returns_the_estimator(tmp_path: Path) -> None:
    model = LinearRegression().fit(np.arange(10.0).reshape(-1, 1), np.arange(10.0) * 2)
    save_model(model, tmp_path / "linear")

    native = load_model(tmp_path / "linear", native=True)

    assert isinstance(native, LinearRegression)
    np.testing.assert_allclose(native.coef_, model.coef_)


def test_predict_proba_only_where_the_model_has_it(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    features, labels = rng.random((60, 3)), rng.integers(0, 2, 60)
    save_model(LinearRegression().fit(features, labels), tmp_path / "regressor")
    save_model(RidgeClassifier().fit(features, labels), tmp_path / "ridge")

    for name in ("regressor", "ridge"):
        loaded = load_model(tmp_path / name)
        assert not hasattr(loaded, "predict_proba"), name
        with pytest.raises(AttributeError, match="no predict_proba"):
            loaded.predict_proba(features)


def test_a_type_outside_sklearn_numpy_scipy_is_refused_unless_trusted(tmp_path: Path) -> None:
    model = MajorityClassifier().fit(np.zeros((4, 2)), [1, 1, 0, 1])
    info = save_model(model, tmp_path / "custom")
    name = f"{__name__}.MajorityClassifier"

    assert info.manifest.flavor_options["untrusted_types"] == [name]
    with pytest.raises(PermissionDenied, match=name) as caught:
        load_model(tmp_path / "custom")
    assert "trusted_types" in str(caught.value)

    loaded = load_model(tmp_path / "custom", trusted_types=[name])
    np.testing.assert_array_equal(loaded.predict(np.zeros((3, 2))), [1, 1, 1])


def test_a_type_the_manifest_does_not_record_is_refused(
    tmp_path: Path, table: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = table
    numeric = frame[["amount", "hour"]]
    save_model(HistGradientBoostingClassifier(max_iter=5).fit(numeric, labels), tmp_path / "m")
    manifest_path = tmp_path / "m" / "kiln-model.yaml"
    data = yaml.safe_load(manifest_path.read_text())
    data["flavor_options"]["untrusted_types"] = []
    manifest_path.write_text(yaml.safe_dump(data))

    with pytest.raises(Conflict, match="TreePredictor"):
        load_model(tmp_path / "m")
    assert read_manifest(tmp_path / "m").flavor_options["untrusted_types"] == []
