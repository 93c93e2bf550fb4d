"""Kiln reads MLflow's model format: folders written by the real ``mlflow.<flavor>.save_model``.

Safe formats (skops, XGBoost, LightGBM text, ONNX, TorchScript) load as they
are; pickles (sklearn pickle/cloudpickle, a pickled torch module,
``torch.export`` archives, a pickled ``PythonModel``) only with
``allow_pickle=True``, and the refusal comes before the file is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from kiln.errors import InvalidInput, PermissionDenied
from kiln.models import Predictor, load_model
from kiln.models._mlflow_format import is_mlflow_folder, mlflow_signature

mlflow = pytest.importorskip("mlflow", reason="the mlflow client is in the dev extra")

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

#: Skips MLflow's requirement inference (a subprocess per save); Kiln does not read it.
QUICK: dict[str, Any] = {"pip_requirements": []}


class Shift(TransformerMixin, BaseEstimator):
    """A transformer outside scikit-learn, so skops lists it as an untrusted type."""

    def fit(self, x: Any, y: Any = None) -> Shift:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) + 1.0


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(rng.random((120, 4)), columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def labels(frame: pd.DataFrame) -> np.ndarray:
    return (frame["a"] + frame["b"] > 1).astype(int).to_numpy()


def test_an_sklearn_model_in_skops_loads_with_its_signature(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    model = LogisticRegression().fit(frame, labels)  # only types skops trusts by default
    mlflow.sklearn.save_model(model, tmp_path / "m", input_example=frame.head(3), **QUICK)
    assert is_mlflow_folder(tmp_path / "m")

    loaded = load_model(tmp_path / "m")

    assert isinstance(loaded, Predictor)
    assert (loaded.flavor, loaded.manifest.serialization) == ("sklearn", "skops")
    assert loaded.manifest.allow_pickle is False
    assert loaded.manifest.metadata["format"] == "mlflow"
    assert loaded.manifest.metadata["files_verified"] is False
    assert loaded.signature is not None
    assert loaded.signature.input_names == ["a", "b", "c", "d"]
    assert [spec.dtype for spec in loaded.signature.inputs] == ["float64"] * 4
    # The signature puts columns in order and drops extra ones, as for Kiln's own models.
    shuffled = frame[["d", "c", "b", "a"]].assign(extra=1)
    np.testing.assert_array_equal(loaded.predict(shuffled), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))
    assert isinstance(load_model(tmp_path / "m", native=True), LogisticRegression)
    # The MLmodel file itself names the folder too.
    np.testing.assert_array_equal(
        load_model(tmp_path / "m" / "MLmodel").predict(frame), model.predict(frame)
    )


def test_skops_types_beyond_skops_defaults_need_the_callers_trust(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(frame, labels)
    tree = "sklearn.tree._tree.Tree"  # skops: unsafe to rebuild from a crafted file
    mlflow.sklearn.save_model(forest, tmp_path / "forest", skops_trusted_types=[tree], **QUICK)
    shift = f"{Shift.__module__}.Shift"
    pipeline = make_pipeline(Shift(), LogisticRegression()).fit(frame.to_numpy(), labels)
    mlflow.sklearn.save_model(pipeline, tmp_path / "shift", skops_trusted_types=[shift], **QUICK)

    # MLflow records the types as trusted; that record comes from the folder, so Kiln ignores it.
    for folder, name in [("forest", tree), ("shift", shift)]:
        with pytest.raises(PermissionDenied, match="skops_trusted_types") as refused:
            load_model(tmp_path / folder)
        assert refused.value.field == name
        assert f"trusted_types=[{name!r}]" in str(refused.value)

    trusted = load_model(tmp_path / "forest", trusted_types=[tree])
    np.testing.assert_array_equal(trusted.predict(frame), forest.predict(frame))
    rows = frame.to_numpy()
    trusted = load_model(tmp_path / "shift", trusted_types=[shift])
    np.testing.assert_array_equal(trusted.predict(rows), pipeline.predict(rows))
    opted_in = load_model(tmp_path / "shift", allow_pickle=True)  # accepts running code anyway
    np.testing.assert_array_equal(opted_in.predict(rows), pipeline.predict(rows))


@pytest.mark.parametrize("fmt", ["pickle", "cloudpickle"])
def test_a_pickled_sklearn_model_needs_allow_pickle(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray, fmt: str
) -> None:
    model = LogisticRegression().fit(frame, labels)
    mlflow.sklearn.save_model(model, tmp_path / "m", serialization_format=fmt, **QUICK)

    with pytest.raises(PermissionDenied, match="allow_pickle=True") as refused:
        load_model(tmp_path / "m")
    assert refused.value.field == "allow_pickle"
    loaded = load_model(tmp_path / "m", allow_pickle=True)
    assert (loaded.manifest.serialization, loaded.manifest.allow_pickle) == (fmt, True)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))

    # Refused before the file is opened: garbage in its place changes nothing.
    (tmp_path / "m" / "model.pkl").write_bytes(b"not a pickle")
    with pytest.raises(PermissionDenied):
        load_model(tmp_path / "m")


@pytest.mark.parametrize("model_format", ["ubj", "json"])
def test_an_xgboost_model_loads(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray, model_format: str
) -> None:
    import xgboost as xgb

    model = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(frame, labels)
    mlflow.xgboost.save_model(
        model, tmp_path / "m", model_format=model_format, input_example=frame.head(2), **QUICK
    )

    loaded = load_model(tmp_path / "m")

    assert loaded.manifest.serialization == f"xgboost-{model_format}"
    assert isinstance(loaded.native, xgb.XGBClassifier)
    np.testing.assert_array_equal(loaded.predict(frame), model.predict(frame))
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))


def test_lightgbm_wrappers_and_boosters_load(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    import lightgbm as lgb

    wrapper = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame, labels)
    mlflow.lightgbm.save_model(wrapper, tmp_path / "wrapper", **QUICK)  # skops by default
    booster = lgb.train(
        {"objective": "binary", "verbose": -1}, lgb.Dataset(frame, labels), num_boost_round=5
    )
    mlflow.lightgbm.save_model(booster, tmp_path / "booster", **QUICK)

    with pytest.raises(PermissionDenied, match=r"lightgbm\.sklearn\.LGBMClassifier"):
        load_model(tmp_path / "wrapper")
    wrapper_types = [
        "collections.OrderedDict",
        "lightgbm.basic.Booster",
        "lightgbm.sklearn.LGBMClassifier",
    ]
    from_wrapper = load_model(tmp_path / "wrapper", trusted_types=wrapper_types)
    from_booster = load_model(tmp_path / "booster")  # LightGBM text: no opt-in needed

    assert from_wrapper.manifest.serialization == "skops"
    np.testing.assert_array_equal(from_wrapper.predict(frame), wrapper.predict(frame))
    np.testing.assert_allclose(from_wrapper.predict_proba(frame), wrapper.predict_proba(frame))
    assert from_booster.manifest.serialization == "lightgbm-text"
    np.testing.assert_allclose(from_booster.predict(frame), booster.predict(frame))


def test_an_onnx_model_loads(tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray) -> None:
    from skl2onnx import to_onnx

    rows = frame.to_numpy().astype(np.float32)
    model = LogisticRegression().fit(rows, labels)
    graph = to_onnx(model, rows[:1], options={id(model): {"zipmap": False}})
    mlflow.onnx.save_model(graph, tmp_path / "m", **QUICK)

    loaded = load_model(tmp_path / "m")

    assert (loaded.flavor, loaded.manifest.serialization) == ("onnx", "onnx")
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    np.testing.assert_allclose(loaded.predict_proba(rows), model.predict_proba(rows), atol=1e-5)


def test_a_pytorch_model_is_a_pickle_and_needs_allow_pickle(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    rows = np.random.default_rng(3).random((16, 4)).astype(np.float32)
    mlflow.pytorch.save_model(
        net, tmp_path / "pickle", serialization_format="pickle", input_example=rows[:2], **QUICK
    )
    torch_export = {"input_example": rows[:2], **QUICK}  # MLflow's default format
    mlflow.pytorch.save_model(net, tmp_path / "pt2", **torch_export)
    with torch.no_grad():
        expected = net(torch.from_numpy(rows)).numpy()

    for name, serialization in [("pickle", "torch-pickle"), ("pt2", "torch-export")]:
        with pytest.raises(PermissionDenied, match="allow_pickle=True"):
            load_model(tmp_path / name)
        loaded = load_model(tmp_path / name, allow_pickle=True)
        assert loaded.manifest.serialization == serialization
        assert loaded.signature is not None
        assert loaded.signature.kind == "ndarray"
        np.testing.assert_allclose(loaded.predict(rows), expected, rtol=1e-5)
        # float64 rows are cast to the float32 the signature asks for.
        np.testing.assert_allclose(loaded.predict(rows.astype(np.float64)), expected, rtol=1e-5)


@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")
def test_a_torchscript_module_needs_no_opt_in(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2)))
    rows = np.random.default_rng(4).random((8, 4)).astype(np.float32)
    # MLflow writes a ScriptModule to model.pth with torch.jit's own format, not pickle.
    mlflow.pytorch.save_model(net, tmp_path / "m", serialization_format="pickle", **QUICK)

    loaded = load_model(tmp_path / "m")

    assert (loaded.manifest.serialization, loaded.manifest.allow_pickle) == ("torchscript", False)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.predict(rows), net(torch.from_numpy(rows)).numpy())


def test_a_python_model_needs_allow_pickle(tmp_path: Path, frame: pd.DataFrame) -> None:
    class AddColumns(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        """Defined in a function, so cloudpickle stores the class by value."""

        def load_context(self, context):  # type: ignore[no-untyped-def]
            self.offset = context.model_config["offset"]

        def predict(  # type hints: MLflow warns about a predict without them
            self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
        ) -> Any:
            return model_input.sum(axis=1).to_numpy() + self.offset

    mlflow.pyfunc.save_model(
        tmp_path / "m",
        python_model=AddColumns(),
        input_example=frame.head(2),
        model_config={"offset": 10},
        **QUICK,
    )

    with pytest.raises(PermissionDenied, match="PythonModel"):
        load_model(tmp_path / "m")
    loaded = load_model(tmp_path / "m", allow_pickle=True)

    assert (loaded.flavor, loaded.manifest.serialization) == ("python_function", "cloudpickle")
    assert type(loaded.native).__name__ == "AddColumns"
    np.testing.assert_allclose(loaded.predict(frame), frame.sum(axis=1).to_numpy() + 10)


def test_flavors_kiln_does_not_read_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "flavors:\n"
        "  transformers: {task: text-classification}\n"
        "  python_function: {loader_module: mlflow.transformers}\n"
    )

    with pytest.raises(InvalidInput, match="transformers, python_function") as refused:
        load_model(folder)
    assert refused.value.field == "flavor"
    assert "Kiln reads sklearn, xgboost, lightgbm, onnx, pytorch" in str(refused.value)


def test_a_path_leaving_the_folder_is_refused(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    mlflow.sklearn.save_model(LogisticRegression().fit(frame, labels), tmp_path / "m", **QUICK)
    mlmodel = tmp_path / "m" / "MLmodel"
    mlmodel.write_text(
        mlmodel.read_text().replace("pickled_model: model.skops", "pickled_model: ../x")
    )

    with pytest.raises(InvalidInput, match="x"):
        load_model(tmp_path / "m")


def test_a_kiln_folder_with_an_mlmodel_is_read_through_its_manifest(
    tmp_path: Path, frame: pd.DataFrame, labels: np.ndarray
) -> None:
    from kiln.models import save_model

    save_model(LogisticRegression().fit(frame, labels), tmp_path / "m", input_example=frame)
    assert (tmp_path / "m" / "MLmodel").is_file()
    assert not is_mlflow_folder(tmp_path / "m")
    assert "format" not in load_model(tmp_path / "m").manifest.metadata


def test_signatures_kiln_cannot_express_are_left_out() -> None:
    def signature(inputs: str) -> dict[str, Any]:
        return {"signature": {"inputs": inputs, "outputs": None}}

    named = mlflow_signature(
        signature(
            '[{"type": "tensor", "name": "x", "tensor-spec": {"dtype": "int64", "shape": [-1, 2]}}]'
        )
    )
    assert named is not None
    assert (named.kind, named.inputs[0].shape) == ("dict", (-1, 2))
    assert (
        mlflow_signature(signature('[{"type": "string", "name": "s", "required": false}]')) is None
    )
    assert mlflow_signature(signature('[{"type": "array", "name": "s", "items": {}}]')) is None
    assert mlflow_signature(signature('[{"type": "double"}]')) is None  # an unnamed column
    assert mlflow_signature({}) is None
