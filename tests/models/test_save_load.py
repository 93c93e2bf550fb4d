"""save_model / load_model: folders, integrity checks, errors, infra needs, input examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from kiln.models import (
    MANIFEST_NAME,
    ModelInfo,
    infer_signature,
    load_model,
    read_input_example,
    read_manifest,
    save_model,
)
from kiln.models._files import hash_file


class Echo:
    """Returns its input; module-level, so the standard library's pickle can save it."""

    def predict(self, data: object) -> object:
        return data


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"a": rng.random(120), "b": rng.random(120), "n": rng.integers(0, 9, 120)})
    return frame, (frame["a"] > 0.5).to_numpy().astype(int)


@pytest.fixture
def saved(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> ModelInfo:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    return save_model(
        model, tmp_path / "model", input_example=frame.head(8), metadata={"team": "risk"}
    )


def test_the_manifest_is_complete(saved: ModelInfo) -> None:
    manifest = read_manifest(saved.path)

    assert manifest == saved.manifest
    assert manifest.format_version == 1
    assert manifest.flavor == "sklearn"
    assert manifest.allow_pickle is False
    assert manifest.python_version.count(".") == 2
    assert manifest.kiln_version
    assert manifest.created_at.endswith("+00:00")
    assert manifest.metadata == {"team": "risk"}
    assert manifest.input_example == "input_example.parquet"
    assert manifest.infra.measured is True
    assert manifest.infra.device == "cpu"
    assert 1 <= manifest.infra.memory_load_mb <= manifest.infra.memory_serve_mb
    for entry in manifest.files:
        assert hash_file(saved.path / entry.path) == entry.sha256
        assert (saved.path / entry.path).stat().st_size == entry.size
    assert saved.files[-1].path == MANIFEST_NAME
    assert saved.manifest_sha256 == hash_file(saved.path / MANIFEST_NAME)
    assert sorted(p.name for p in saved.path.iterdir()) == sorted(e.path for e in saved.files)


def test_the_input_example_reads_back(
    saved: ModelInfo, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    pd.testing.assert_frame_equal(read_input_example(saved.path), data[0].head(8))


def test_array_and_dict_examples_read_back(tmp_path: Path) -> None:
    from kiln.models._example import write_input_example

    array = np.arange(12, dtype=np.int32).reshape(4, 3)
    write_input_example(array, tmp_path)
    assert (tmp_path / "input_example.json").exists()

    save_model(Echo(), tmp_path / "a", input_example=array, allow_pickle=True)
    save_model(Echo(), tmp_path / "d", input_example={"x": array}, allow_pickle=True)
    read = read_input_example(tmp_path / "a")
    assert read.dtype == np.int32
    np.testing.assert_array_equal(read, array)
    np.testing.assert_array_equal(read_input_example(tmp_path / "d")["x"], array)


def test_a_model_without_example_has_no_signature(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    save_model(LogisticRegression().fit(frame, labels), tmp_path / "m")

    assert read_manifest(tmp_path / "m").signature is None
    with pytest.raises(NotFound, match="without an input example"):
        read_input_example(tmp_path / "m")


def test_an_explicit_signature_is_kept_and_checked_against_the_example(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)
    signature = infer_signature(frame)

    info = save_model(model, tmp_path / "m", signature=signature, input_example=frame.head(2))
    assert info.manifest.signature == signature
    with pytest.raises(InvalidInput, match="'n' is missing"):
        save_model(model, tmp_path / "m2", signature=signature, input_example=frame[["a", "b"]])


def test_predict_enforces_the_signature(saved: ModelInfo) -> None:
    loaded = load_model(saved.path)
    good = pd.DataFrame({"a": [0.9], "b": [0.1], "n": [3]})

    assert loaded.predict(good).tolist() == [1]
    with pytest.raises(InvalidInput, match="'b' is missing") as missing:
        loaded.predict(good.drop(columns="b"))
    assert missing.value.field == "b"
    with pytest.raises(InvalidInput, match="'a' expects float64, got string") as typed:
        loaded.predict(good.assign(a="high"))
    assert typed.value.field == "a"
    with pytest.raises(InvalidInput, match="shape") as shaped:
        loaded.predict(np.zeros((1, 5)))
    assert shaped.value.field == "input"
    assert loaded.predict(good.assign(extra="dropped")).tolist() == [1]
    assert loaded.predict({"a": [0.9], "b": [0.1], "n": [3]}).tolist() == [1]
    assert loaded.predict(np.array([[0.9, 0.1, 3]], dtype=object)).tolist() == [1]


# --- integrity --------------------------------------------------------------------------------


def test_a_tampered_file_is_refused_with_its_name(saved: ModelInfo) -> None:
    path = saved.path / "model.skops"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0x01
    path.write_bytes(bytes(content))

    with pytest.raises(Conflict, match=r"'model\.skops' does not match the sha256") as caught:
        load_model(saved.path)
    assert caught.value.field == "model.skops"


def test_a_missing_file_is_refused(saved: ModelInfo) -> None:
    (saved.path / "input_example.parquet").unlink()

    with pytest.raises(Conflict, match=r"'input_example\.parquet' is missing"):
        load_model(saved.path)


def test_an_unlisted_file_is_refused(saved: ModelInfo) -> None:
    (saved.path / "extra").mkdir()
    (saved.path / "extra" / "payload.py").write_text("print('hi')")

    with pytest.raises(Conflict, match=r"'extra/payload\.py', which its manifest does not list"):
        load_model(saved.path)


def test_a_manifest_path_cannot_escape_the_folder(saved: ModelInfo) -> None:
    manifest = saved.path / MANIFEST_NAME
    manifest.write_text(manifest.read_text().replace("path: model.skops", "path: ../model.skops"))

    with pytest.raises(InvalidInput, match="unsafe artifact path"):
        load_model(saved.path)


# --- errors -------------------------------------------------------------------------------------


def test_saving_into_a_non_empty_folder_is_refused(saved: ModelInfo) -> None:
    with pytest.raises(AlreadyExists, match="not an empty folder"):
        save_model(load_model(saved.path, native=True), saved.path)


def test_saving_into_an_empty_folder_works(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    (tmp_path / "empty").mkdir()
    frame, labels = data

    save_model(LogisticRegression().fit(frame, labels), tmp_path / "empty")

    assert (tmp_path / "empty" / MANIFEST_NAME).is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["empty"]


def test_loading_from_nowhere_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no model folder"):
        load_model(tmp_path / "absent")
    (tmp_path / "folder").mkdir()
    with pytest.raises(NotFound, match=r"has no kiln-model\.yaml"):
        load_model(tmp_path / "folder")


def test_detection_picks_the_right_flavor(tmp_path: Path) -> None:
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kiln.models._flavor import detect_flavor

    assert detect_flavor(xgb.XGBClassifier()).name == "xgboost"
    assert detect_flavor(lgb.LGBMRegressor()).name == "lightgbm"
    assert (
        detect_flavor(make_pipeline(StandardScaler(), HistGradientBoostingClassifier())).name
        == "sklearn"
    )
    assert detect_flavor(LogisticRegression()).name == "sklearn"

    assert detect_flavor(Echo()).name == "python_function"
    with pytest.raises(InvalidInput, match="pass flavor=") as caught:
        save_model(object(), tmp_path / "m")
    assert "python_function" in str(caught.value)


def test_unknown_or_mismatched_flavors_are_refused(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)

    with pytest.raises(
        InvalidInput, match=r"unknown model flavor 'keras'; known flavors: .*sklearn"
    ):
        save_model(model, tmp_path / "a", flavor="keras")
    with pytest.raises(InvalidInput, match="the xgboost flavor does not handle"):
        save_model(model, tmp_path / "b", flavor="xgboost")
    info = save_model(model, tmp_path / "c", flavor="python_function", allow_pickle=True)
    assert info.flavor == "python_function"


def test_a_model_that_fails_on_its_example_is_refused(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)

    with pytest.raises(InvalidInput, match="failed to predict its own input_example"):
        save_model(model, tmp_path / "m", input_example=frame[["a", "b"]])
    assert list(tmp_path.iterdir()) == []


def test_infra_can_be_overridden(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, labels = data
    model = LogisticRegression().fit(frame, labels)

    info = save_model(
        model,
        tmp_path / "m",
        infra={"device": "gpu", "cpu": 2, "memory_load_mb": 512, "memory_serve_mb": 1024},
    )
    partial = save_model(model, tmp_path / "p", infra={"memory_load_mb": 300})

    assert info.manifest.infra.to_dict() == {
        "device": "gpu",
        "cpu": 2.0,
        "memory_load_mb": 512,
        "memory_serve_mb": 1024,
        "measured": False,
    }
    assert partial.manifest.infra.memory_load_mb == 300
    assert partial.manifest.infra.memory_serve_mb >= 300
    assert partial.manifest.infra.measured is True


@pytest.mark.parametrize(
    ("infra", "field"),
    [
        ({"gpus": 1}, "infra.gpus"),
        ({"device": "tpu"}, "infra.device"),
        ({"cpu": 0}, "infra.cpu"),
        ({"memory_load_mb": 0.5}, "infra.memory_load_mb"),
    ],
)
def test_bad_infra_overrides_are_refused(
    tmp_path: Path, infra: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        save_model(LogisticRegression(), tmp_path / "m", infra=infra)
    assert caught.value.field == field


def test_metadata_must_be_plain(tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, labels = data
    with pytest.raises(InvalidInput, match="plain values") as caught:
        save_model(
            LogisticRegression().fit(frame, labels), tmp_path / "m", metadata={"when": object()}
        )
    assert caught.value.field == "metadata"


def test_extra_requirements_are_pinned(
    tmp_path: Path, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, labels = data
    info = save_model(
        LogisticRegression().fit(frame, labels), tmp_path / "m", requirements=["pyyaml", "mylib>=2"]
    )

    names = {pin.split("==")[0].split(">=")[0].lower() for pin in info.manifest.requirements}
    assert {"pyyaml", "mylib", "scikit-learn", "skops", "numpy"} <= names
    assert "mylib>=2" in info.manifest.requirements


def test_a_folder_that_appears_during_the_save_wins(tmp_path: Path) -> None:
    from kiln.models._save import _publish

    staging, target = tmp_path / "staging", tmp_path / "target"
    staging.mkdir()
    (target / "someone-else").mkdir(parents=True)

    with pytest.raises(AlreadyExists, match="created by someone else"):
        _publish(staging, target)
    assert (target / "someone-else").is_dir()
