"""The xgboost flavor: UBJ and JSON files, wrappers and raw boosters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from kiln.models import load_model, read_manifest, save_model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(rng.random((300, 6)), columns=[f"f{i}" for i in range(6)])
    labels = (frame["f0"] + frame["f1"] > 1).to_numpy().astype(int)
    return frame, labels


@pytest.mark.parametrize("fmt", ["ubj", "json"])
def test_classifier_round_trip(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray], fmt: str
) -> None:
    frame, labels = data
    model = xgb.XGBClassifier(n_estimators=15, max_depth=3).fit(frame, labels)

    info = save_model(
        model, tmp_path / "xgb", input_example=frame.head(5), flavor_options={"format": fmt}
    )
    loaded = load_model(tmp_path / "xgb")

    assert info.flavor == "xgboost"  # not sklearn, though it is also a scikit-learn estimator
    assert info.manifest.serialization == f"xgboost-{fmt}"
    assert f"model.{fmt}" in {entry.path for entry in info.files}
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    native = load_model(tmp_path / "xgb", native=True)
    assert isinstance(native, xgb.XGBClassifier)
    np.testing.assert_array_equal(native.classes_, model.classes_)


def test_regressor_has_no_predict_proba(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    model = xgb.XGBRegressor(n_estimators=10).fit(frame, labels.astype(float))

    save_model(model, tmp_path / "reg")
    loaded = load_model(tmp_path / "reg")

    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    assert not hasattr(loaded, "predict_proba")


def test_raw_booster_round_trip(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, labels = data
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgb.DMatrix(frame, label=labels),
        num_boost_round=10,
    )

    info = save_model(booster, tmp_path / "booster", input_example=frame.head(3))
    loaded = load_model(tmp_path / "booster")

    assert info.manifest.flavor_options["model_class"] == "Booster"
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(xgb.DMatrix(frame)))
    assert isinstance(load_model(tmp_path / "booster", native=True), xgb.Booster)
    assert read_manifest(tmp_path / "booster").requirements[-1].startswith("xgboost==")
