"""The registry SDK end to end with real scikit-learn models, embedded and through a server."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.models import LoggedModel, log_model, save_model


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    return frame, (frame["a"] + 0.5 * frame["b"] > 0).astype("int64")


@pytest.fixture(scope="module")
def good(data: tuple[pd.DataFrame, pd.Series]) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(*data)


@pytest.fixture(scope="module")
def bad(data: tuple[pd.DataFrame, pd.Series]) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy="constant", constant=0).fit(*data)


def _logged(model: Any, frame: pd.DataFrame, **metrics: float) -> LoggedModel:
    with kiln.start_run(capture_environment=False):
        logged = log_model(model, "model", input_example=frame.head(5))
        kiln.log_metrics(metrics)
    return logged


CHECKS = """
def accuracy(predictor, frame):
    truth = frame.pop("label")
    score = float((predictor.predict(frame) == truth).mean())
    return score >= 0.9, score


def broken(predictor, frame):
    raise RuntimeError("the holdout service is down")
"""


@pytest.fixture
def holdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: tuple[pd.DataFrame, pd.Series]
) -> Path:
    """A validation set on disk and an importable module of check functions."""
    (tmp_path / "holdout_checks.py").write_text(textwrap.dedent(CHECKS))
    monkeypatch.syspath_prepend(str(tmp_path))
    frame, labels = data
    path = tmp_path / "validation.parquet"
    frame.assign(label=labels).to_parquet(path)
    return path


def test_register_and_load_every_uri_form(
    sdk: Context, tmp_path: Path, data: tuple[pd.DataFrame, pd.Series], good: Any
) -> None:
    frame, _ = data
    logged = _logged(good, frame, auc=0.9)
    first = registry.register_model(logged, "fraud", tags={"team": "risk"}, description="lr")
    assert (first.version, first.source, first.run_id) == (1, logged.uri, logged.run_id)
    assert (first.manifest_sha256, first.flavor) == (logged.manifest_sha256, "sklearn")
    assert first.tags == {"team": "risk"}

    folder = save_model(good, tmp_path / "saved", input_example=frame.head(5))
    second = registry.register_model(str(folder.path), "fraud")
    assert (second.version, second.source, second.run_id) == (2, str(folder.path), None)
    assert second.manifest_sha256 == folder.manifest_sha256

    registry.set_alias("fraud", "champion", 1)
    expected = good.predict(frame)
    for uri in (
        logged.uri,
        "models:/fraud/1",
        "models:/fraud/2",
        "models:/fraud/latest",
        "models:/fraud@champion",
        str(folder.path),
        folder.path,
    ):
        np.testing.assert_array_equal(registry.load_model(uri).predict(frame), expected)
    native = registry.load_model("models:/fraud@champion", native=True)
    assert type(native).__name__ == "LogisticRegression"

    cached = kiln.get_context().settings.home / "cache" / "models" / logged.manifest_sha256
    assert (cached / "kiln-model.yaml").is_file()
    assert registry.get_model_version_by_alias("fraud", "champion") == registry.get_model_version(
        "fraud", 1
    )
    model = registry.get_registered_model("fraud")
    assert (model.latest_version, model.aliases) == (2, {"champion": 1})


def test_cached_models_are_reused_and_verified(
    sdk_sqlite: Context,
    monkeypatch: pytest.MonkeyPatch,
    data: tuple[pd.DataFrame, pd.Series],
    good: Any,
) -> None:
    frame, _ = data
    registry.register_model(_logged(good, frame), "fraud")
    registry.load_model("models:/fraud/1")

    def no_download(*_args: object) -> Path:
        raise AssertionError("the cached copy should have been used")

    monkeypatch.setattr("kiln.models.download_run_model", no_download)
    registry.load_model("models:/fraud/1")

    version = registry.get_model_version("fraud", 1)
    cached = kiln.get_context().settings.home / "cache" / "models" / version.manifest_sha256
    weights = cached / "model.skops"
    original = weights.read_bytes()
    weights.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(Conflict, match=r"model\.skops"):
        registry.load_model("models:/fraud/1")
    weights.write_bytes(original)
    manifest = cached / "kiln-model.yaml"
    manifest.write_text(manifest.read_text().replace("kiln_version", "kiln_version_"))
    with pytest.raises(Conflict, match="cached copy of version 1 of model 'fraud' was changed"):
        registry.load_model("models:/fraud/1")


def test_gates_with_metrics_and_a_callable_on_a_parquet_validation_set(
    sdk: Context, holdout: Path, data: tuple[pd.DataFrame, pd.Series], good: Any, bad: Any
) -> None:
    frame, _ = data
    registry.register_model(_logged(good, frame, auc=0.93), "fraud")
    registry.register_model(_logged(bad, frame, auc=0.95), "fraud")  # scores well, predicts 0s
    registry.register_model(_logged(good, frame, auc=0.91), "fraud")
    gate = registry.set_gate(
        "fraud",
        "champion",
        [
            {"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=",
             "value": 0.9},
            {"type": "beats_current", "metric": "auc"},
            {"name": "holdout", "type": "callable", "callable": "holdout_checks:accuracy",
             "dataset": str(holdout)},
        ],
    )  # fmt: skip
    assert registry.get_gate("fraud", "champion") == gate

    first = registry.set_alias("fraud", "champion", 1, note="first champion")
    assert [(r.name, r.passed, r.evaluated_by) for r in first.results] == [
        ("auc-floor", True, "store"),
        ("beats current on auc", True, "store"),
        ("holdout", True, "caller"),
    ]
    holdout_result = first.results[2]
    assert holdout_result.observed is not None
    assert holdout_result.observed >= 0.9

    dry = registry.check_gate("fraud", "champion", 2)
    assert [r.passed for r in dry] == [True, True, False]
    with pytest.raises(Conflict, match="holdout") as refused:
        registry.set_alias("fraud", "champion", 2)
    assert "auc-floor" not in str(refused.value).split("check(s):")[1]
    with pytest.raises(Conflict, match="beats current on auc"):
        registry.set_alias("fraud", "champion", 3)  # 0.91 < 0.93
    assert registry.get_model_version_by_alias("fraud", "champion").version == 1

    forced = registry.set_alias("fraud", "champion", 2, force=True, note="incident 42")
    assert forced.forced
    assert not forced.passed
    assert (forced.from_version, forced.to_version, forced.note) == (1, 2, "incident 42")

    back = registry.rollback_alias("fraud", "champion")
    assert (back.from_version, back.to_version) == (2, 1)
    history = registry.alias_history("fraud", "champion")
    assert [(e.action.value, e.from_version, e.to_version) for e in history] == [
        ("rollback", 2, 1),
        ("set", 1, 2),
        ("set", None, 1),
    ]
    assert history[1].results == forced.results
    assert history[2].results[2] == holdout_result
    assert all(e.actor for e in history)

    # A check that raises fails closed, with the reason stored.
    registry.set_gate(
        "fraud",
        "challenger",
        [{"type": "callable", "callable": "holdout_checks:broken", "dataset": str(holdout)}],
    )
    with pytest.raises(Conflict, match="raised RuntimeError: the holdout service is down"):
        registry.set_alias("fraud", "challenger", 1)


def test_callable_datasets_can_be_run_artifacts(
    sdk_sqlite: Context, holdout: Path, data: tuple[pd.DataFrame, pd.Series], good: Any
) -> None:
    frame, labels = data
    with kiln.start_run(capture_environment=False) as run:
        kiln.log_table(frame.assign(label=labels), "validation/holdout.parquet")
    registry.register_model(_logged(good, frame), "fraud")
    registry.set_gate(
        "fraud",
        "champion",
        [
            {
                "type": "callable",
                "callable": "holdout_checks:accuracy",
                "dataset": f"runs:/{run.id}/validation/holdout.parquet",
            },
            {"type": "callable", "callable": "holdout_checks:missing", "dataset": str(holdout)},
        ],
    )
    results = registry.check_gate("fraud", "champion", 1)
    assert results[0].passed
    assert not results[1].passed
    assert "cannot import holdout_checks:missing" in results[1].detail


def test_errors_reach_the_caller_with_their_field(
    sdk_sqlite: Context, data: tuple[pd.DataFrame, pd.Series], good: Any
) -> None:
    frame, _ = data
    logged = _logged(good, frame)
    with pytest.raises(InvalidInput) as name:
        registry.register_model(logged, "a/b")
    assert name.value.field == "name"
    registry.register_model(logged, "fraud")
    with pytest.raises(NotFound, match="registered model 'nope'"):
        registry.get_model_version("nope", 1)
    with pytest.raises(NotFound, match="no version 9"):
        registry.load_model("models:/fraud/9")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.load_model("models:/fraud@champion")
    with pytest.raises(NotFound, match="no Kiln model at 'other'"):
        registry.register_model(f"runs:/{logged.run_id}/other", "fraud")
    with pytest.raises(InvalidInput) as version:
        registry.set_alias("fraud", "champion", "one")
    with pytest.raises(InvalidInput) as check:
        registry.set_gate(
            "fraud",
            "champion",
            [{"type": "metric_threshold", "metric": "a", "op": "~", "value": 1}],
        )
    with pytest.raises(InvalidInput) as uri:
        registry.load_model("models:/fraud")
    assert (version.value.field, check.value.field, uri.value.field) == (
        "version",
        "checks[0].op",
        "uri",
    )


def test_search_models_and_versions(
    sdk_sqlite: Context, data: tuple[pd.DataFrame, pd.Series], good: Any
) -> None:
    frame, _ = data
    logged = _logged(good, frame)
    registry.register_model(logged, "fraud", tags={"team": "risk"})
    registry.register_model(logged, "fraud")
    registry.register_model(logged, "Fraud-EU", tags={"team": "eu"})
    assert [m.name for m in registry.search_registered_models()] == ["Fraud-EU", "fraud"]
    assert [m.name for m in registry.search_registered_models("name LIKE 'fr%'")] == ["fraud"]
    assert [m.name for m in registry.search_registered_models("name ILIKE 'fr%'")] == [
        "Fraud-EU",
        "fraud",
    ]
    eu = registry.search_model_versions("tags.team = 'eu'")  # register_model tags versions
    assert [(v.name, v.version) for v in eu] == [("Fraud-EU", 1)]
    found = registry.search_model_versions("name = 'fraud'")
    assert [(v.name, v.version) for v in found] == [("fraud", 2), ("fraud", 1)]
    by_run = registry.search_model_versions(f"run_id = '{logged.run_id}' and version < 2")
    assert sorted((v.name, v.version) for v in by_run) == [("Fraud-EU", 1), ("fraud", 1)]
