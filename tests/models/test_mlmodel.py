"""The MLflow ``MLmodel`` beside Kiln's manifest: the stock MLflow loaders read Kiln's files.

Each flavor is saved with :func:`kiln.models.save_model` and loaded with
``mlflow.pyfunc.load_model`` and the native ``mlflow.<flavor>.load_model``;
both must predict what the original model predicts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from kiln.models import save_model
from kiln.models._mlmodel import MLMODEL, to_mlflow_signature, write_mlmodel
from kiln.models._signature import infer_signature
from tests.conftest import IN_CI

mlflow = pytest.importorskip("mlflow")

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")


@pytest.fixture(autouse=True)
def _allow_mlflow_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow asks for this before it reads skops or TorchScript files."""
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.random((60, 4)), columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["a"] + frame["b"] > 1).to_numpy().astype(int)


def mlmodel(folder: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((folder / MLMODEL).read_text())
    return document


def test_sklearn_loads_with_mlflow(tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit(frame, labels)
    info = save_model(model, tmp_path / "m", input_example=frame.head(5))

    assert MLMODEL in {entry.path for entry in info.manifest.files}  # hashed like every file
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    native = mlflow.sklearn.load_model(str(tmp_path / "m"))
    np.testing.assert_array_equal(pyfunc.predict(frame), model.predict(frame))
    np.testing.assert_allclose(native.predict_proba(frame), model.predict_proba(frame))


@pytest.mark.parametrize(
    ("kind", "fmt"),
    [("XGBClassifier", "ubj"), ("XGBRegressor", "json"), ("Booster", "ubj")],
)
def test_xgboost_loads_with_mlflow(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray, kind: str, fmt: str
) -> None:
    import xgboost as xgb

    model: Any
    if kind == "Booster":
        model = xgb.train({"max_depth": 2}, xgb.DMatrix(frame, label=labels), num_boost_round=4)
        expected = model.predict(xgb.DMatrix(frame))
    else:
        model = getattr(xgb, kind)(n_estimators=4, max_depth=2).fit(frame, labels)
        expected = model.predict(frame)
    save_model(model, tmp_path / "m", input_example=frame.head(5), flavor_options={"format": fmt})

    assert mlmodel(tmp_path / "m")["flavors"]["xgboost"]["data"] == f"model.{fmt}"
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    native = mlflow.xgboost.load_model(str(tmp_path / "m"))
    assert type(native) is type(model)
    np.testing.assert_array_equal(pyfunc.predict(frame), expected)
    data = xgb.DMatrix(frame) if kind == "Booster" else frame
    np.testing.assert_array_equal(native.predict(data), expected)


@pytest.mark.parametrize("kind", ["LGBMRegressor", "Booster"])
def test_lightgbm_loads_with_mlflow(tmp_path: Path, frame: pd.DataFrame, kind: str) -> None:
    import lightgbm as lgb

    target = frame["a"] * 2 + frame["c"]
    model: Any
    if kind == "Booster":
        params = {"objective": "regression", "num_leaves": 4, "verbose": -1}
        model = lgb.train(params, lgb.Dataset(frame, label=target), num_boost_round=5)
    else:
        model = lgb.LGBMRegressor(n_estimators=5, num_leaves=4, verbose=-1).fit(frame, target)
    save_model(model, tmp_path / "m", input_example=frame.head(5))

    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    native = mlflow.lightgbm.load_model(str(tmp_path / "m"))
    assert isinstance(native, lgb.Booster)  # MLflow reads LightGBM text as a booster
    np.testing.assert_allclose(pyfunc.predict(frame), model.predict(frame))
    np.testing.assert_allclose(native.predict(frame), model.predict(frame))


def test_a_lightgbm_classifier_has_no_mlflow_pyfunc(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    """Its booster predicts probabilities; MLflow's pyfunc would return them as labels."""
    import lightgbm as lgb

    model = lgb.LGBMClassifier(n_estimators=5, num_leaves=4, verbose=-1).fit(frame, labels)
    save_model(model, tmp_path / "m", input_example=frame.head(5))

    assert set(mlmodel(tmp_path / "m")["flavors"]) == {"lightgbm"}
    native = mlflow.lightgbm.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(native.predict(frame), model.predict_proba(frame)[:, 1])
    with pytest.raises(mlflow.exceptions.MlflowException, match="python_function"):
        mlflow.pyfunc.load_model(str(tmp_path / "m"))


def test_onnx_loads_with_mlflow(tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray) -> None:
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression

    rows = frame.to_numpy(np.float32)
    sk_model = LogisticRegression().fit(rows, labels)
    graph = to_onnx(sk_model, rows[:1], options={id(sk_model): {"zipmap": False}})
    save_model(graph, tmp_path / "m", input_example=rows[:5])
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(None, {session.get_inputs()[0].name: rows})

    document = mlmodel(tmp_path / "m")
    assert json.loads(document["signature"]["inputs"])[0]["tensor-spec"]["dtype"] == "float32"
    assert document["signature"]["outputs"] is None  # MLflow returns every output, by name
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    predicted = pyfunc.predict(rows)
    np.testing.assert_array_equal(predicted["label"], label)
    np.testing.assert_allclose(predicted["probabilities"], probabilities)
    assert mlflow.onnx.load_model(str(tmp_path / "m")) == graph


@pytest.fixture
def torch() -> Any:
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        if IN_CI:
            raise
        pytest.skip("torch is not installed; install kiln-ml[torch]")
    return torch


def _net(torch: Any) -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")
def test_pytorch_torchscript_loads_with_mlflow(
    tmp_path: Path, frame: pd.DataFrame, torch: Any
) -> None:
    net = _net(torch).eval()
    rows = frame.to_numpy(np.float32, copy=True)  # torch warns about read-only arrays
    with torch.no_grad():
        expected = net(torch.from_numpy(rows)).numpy()
    save_model(net, tmp_path / "m", input_example=rows[:5])

    assert mlmodel(tmp_path / "m")["flavors"]["pytorch"]["model_data"] == "model.pt"
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    np.testing.assert_allclose(pyfunc.predict(rows), expected, rtol=1e-6)
    # torch.load refuses TorchScript under its weights_only default; MLflow's pyfunc passes False.
    native = mlflow.pytorch.load_model(str(tmp_path / "m"), weights_only=False)
    with torch.no_grad():
        np.testing.assert_allclose(native(torch.from_numpy(rows)).numpy(), expected, rtol=1e-6)


def test_a_pytorch_state_dict_gets_no_mlmodel(tmp_path: Path, torch: Any) -> None:
    """MLflow cannot rebuild a module from weights and Kiln's code reference."""
    from tests.models.test_pytorch import TinyNet

    info = save_model(TinyNet(), tmp_path / "m", flavor_options={"format": "state_dict"})

    assert not (tmp_path / "m" / MLMODEL).exists()
    assert MLMODEL not in {entry.path for entry in info.manifest.files}


def test_flavors_mlflow_cannot_read_get_no_mlmodel(tmp_path: Path) -> None:
    assert write_mlmodel(tmp_path, "python_function", {}) is False
    assert list(tmp_path.iterdir()) == []


def test_signatures_match_what_mlflow_infers(frame: pd.DataFrame) -> None:
    from mlflow.models import ModelSignature
    from mlflow.models import infer_signature as mlflow_infer

    typed = frame.assign(n=np.arange(len(frame)), flag=frame["a"] > 0.5, word="x")
    arrays = {"x": frame.to_numpy(np.float32), "mask": np.ones((len(frame), 2), np.int32)}
    for example in (typed, frame.to_numpy(), arrays):
        ours = to_mlflow_signature(infer_signature(example))
        assert ours is not None
        assert ModelSignature.from_dict(ours).inputs == mlflow_infer(example).inputs


def test_a_signature_mlflow_cannot_say_is_left_out(frame: pd.DataFrame) -> None:
    categorical = frame.assign(colour=pd.Categorical(["red", "blue"] * 30))
    assert to_mlflow_signature(infer_signature(categorical)) is None
    # Outputs only document: one that does not translate drops alone.
    signature = infer_signature(frame, pd.Series(pd.Categorical(["a"] * len(frame))))
    translated = to_mlflow_signature(signature)
    assert translated is not None
    assert translated["outputs"] is None
