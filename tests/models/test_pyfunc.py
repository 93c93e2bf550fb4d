"""The python_function flavor: pickle only with allow_pickle, on save and on load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kiln.errors import InvalidInput, PermissionDenied
from kiln.models import load_model, read_manifest, save_model


class ThresholdModel:
    """Any object with predict (and here predict_proba); lives in an importable module."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict(self, data: Any) -> Any:
        return (np.asarray(data)[:, 0] > self.threshold).astype(int)

    def predict_proba(self, data: Any) -> Any:
        high = np.clip(np.asarray(data)[:, 0], 0, 1)
        return np.column_stack([1 - high, high])


class PredictOnly:
    def predict(self, data: Any) -> Any:
        return np.zeros(len(data))


def test_saving_needs_allow_pickle(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="allow_pickle=True") as caught:
        save_model(ThresholdModel(0.5), tmp_path / "model")

    assert caught.value.field == "allow_pickle"
    assert not (tmp_path / "model").exists()
    assert list(tmp_path.iterdir()) == []  # no staging folder left behind


def test_round_trip_with_allow_pickle(tmp_path: Path) -> None:
    model = ThresholdModel(0.5)
    features = np.random.default_rng(2).random((50, 3))

    info = save_model(model, tmp_path / "model", allow_pickle=True, input_example=features[:5])

    assert info.flavor == "python_function"
    assert info.manifest.allow_pickle is True
    assert info.manifest.serialization in ("pickle", "cloudpickle")
    loaded = load_model(tmp_path / "model", allow_pickle=True)
    np.testing.assert_array_equal(loaded.predict(features), model.predict(features))
    np.testing.assert_allclose(loaded.predict_proba(features), model.predict_proba(features))
    native = load_model(tmp_path / "model", allow_pickle=True, native=True)
    assert isinstance(native, ThresholdModel)
    assert native.threshold == 0.5


def test_loading_a_pickle_needs_allow_pickle(tmp_path: Path) -> None:
    save_model(ThresholdModel(0.1), tmp_path / "model", allow_pickle=True)

    with pytest.raises(PermissionDenied, match="allow_pickle=True") as caught:
        load_model(tmp_path / "model")
    assert caught.value.field == "allow_pickle"
    assert "runs" in str(caught.value)


def test_the_manifest_records_pickle_so_loading_asks_even_if_the_flag_is_edited(
    tmp_path: Path,
) -> None:
    save_model(ThresholdModel(0.1), tmp_path / "model", allow_pickle=True)
    manifest = tmp_path / "model" / "kiln-model.yaml"
    manifest.write_text(manifest.read_text().replace("allow_pickle: true", "allow_pickle: false"))

    assert read_manifest(tmp_path / "model").allow_pickle is True
    with pytest.raises(PermissionDenied):
        load_model(tmp_path / "model")


def test_no_predict_proba_when_the_object_has_none(tmp_path: Path) -> None:
    save_model(PredictOnly(), tmp_path / "model", allow_pickle=True)

    loaded = load_model(tmp_path / "model", allow_pickle=True)

    assert not hasattr(loaded, "predict_proba")
    assert loaded.signature is None
    assert loaded.predict([1, 2, 3]).tolist() == [0.0, 0.0, 0.0]
