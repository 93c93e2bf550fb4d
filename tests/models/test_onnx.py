"""The onnx flavor: graphs converted with skl2onnx, run by ONNX Runtime on the CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from skl2onnx import to_onnx
from sklearn.linear_model import LinearRegression, LogisticRegression

from kiln.models import load_model, save_model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    features = rng.random((200, 4)).astype(np.float32)
    return features, (features[:, 0] * 3).astype(int)


@pytest.mark.parametrize("zipmap", [False, True])
def test_classifier_round_trip(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray], zipmap: bool
) -> None:
    features, labels = data
    sk_model = LogisticRegression(max_iter=500).fit(features, labels)
    graph = to_onnx(sk_model, features[:1], options={id(sk_model): {"zipmap": zipmap}})
    assert isinstance(graph, onnx.ModelProto)

    info = save_model(graph, tmp_path / "onnx", input_example=features[:5])
    loaded = load_model(tmp_path / "onnx")

    assert info.flavor == "onnx"
    assert info.manifest.serialization == "onnx"
    np.testing.assert_array_equal(loaded.predict(features), sk_model.predict(features))
    np.testing.assert_allclose(
        loaded.predict_proba(features), sk_model.predict_proba(features), rtol=1e-4, atol=1e-5
    )
    # float64 rows for a float32 graph are cast, as the signature allows
    np.testing.assert_array_equal(
        loaded.predict(features.astype(np.float64)), sk_model.predict(features)
    )
    assert isinstance(load_model(tmp_path / "onnx", native=True), ort.InferenceSession)


def test_regressor_has_no_predict_proba(
    tmp_path: Path, data: tuple[np.ndarray, np.ndarray]
) -> None:
    features, labels = data
    sk_model = LinearRegression().fit(features, labels.astype(np.float32))

    save_model(to_onnx(sk_model, features[:1]), tmp_path / "onnx")
    loaded = load_model(tmp_path / "onnx")

    np.testing.assert_allclose(
        loaded.predict(features).ravel(), sk_model.predict(features), rtol=1e-4, atol=1e-4
    )
    assert not hasattr(loaded, "predict_proba")
