"""The lightgbm flavor: booster text, and the classifier's labels and probabilities restored."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from kiln.models import load_model, save_model


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(rng.random((400, 5)), columns=[f"x{i}" for i in range(5)])


@pytest.mark.parametrize(
    "labels",
    [
        pytest.param(lambda f: np.where(f["x0"] > 0.5, "fraud", "ok"), id="binary-strings"),
        pytest.param(lambda f: (f["x0"] * 3).astype(int).to_numpy() + 10, id="three-classes"),
    ],
)
def test_classifier_round_trip_keeps_labels_and_probabilities(
    tmp_path: Path, frame: pd.DataFrame, labels: object
) -> None:
    y = labels(frame)  # type: ignore[operator]
    model = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, y)

    info = save_model(model, tmp_path / "lgbm", input_example=frame.head(5))
    loaded = load_model(tmp_path / "lgbm")

    assert info.flavor == "lightgbm"
    assert info.manifest.serialization == "lightgbm-text"
    assert info.manifest.flavor_options["classes"] == model.classes_.tolist()
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    assert isinstance(load_model(tmp_path / "lgbm", native=True), lgb.Booster)


def test_regressor_and_raw_booster(tmp_path: Path, frame: pd.DataFrame) -> None:
    target = frame["x0"] * 2 + frame["x1"]
    regressor = lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(frame, target)
    booster = lgb.train(
        {"objective": "regression", "verbose": -1}, lgb.Dataset(frame, target), num_boost_round=5
    )

    save_model(regressor, tmp_path / "reg")
    save_model(booster, tmp_path / "booster", input_example=frame.head(2))

    np.testing.assert_allclose(
        load_model(tmp_path / "reg").predict(frame), regressor.predict(frame)
    )
    loaded = load_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(frame), booster.predict(frame))
    assert not hasattr(loaded, "predict_proba")
