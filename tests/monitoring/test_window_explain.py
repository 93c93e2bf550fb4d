"""A monitor with ``explain`` explains the model version that answered each window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

import kiln
from kiln import registry
from kiln.auth import ensure_project
from kiln.models import log_model
from kiln.monitoring._evaluate import evaluate_monitor
from kiln.monitoring._monitors import create_monitor
from kiln.monitoring._profiles import create_profile
from kiln.monitoring._report import monitor_report
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.tracking import _fluent
from tests.monitoring.test_monitors import START

pytest.importorskip("shap")
FEATURES = ["signal", "noise"]


@pytest.fixture
def store(tmp_path: Path, sqlite_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "home", database_url=sqlite_url)
    context.db.run(ensure_project, context.settings.project)
    try:
        yield context
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def _frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"signal": rng.normal(size=rows), "noise": rng.normal(size=rows)})
    frame["label"] = (frame["signal"] > 0).astype("int64")
    return frame


def test_the_answering_tree_model_is_explained_by_mean_abs_shap(store: kiln.Context) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier

    project = store.settings.project
    train = _frame(1_000, 0)
    model = HistGradientBoostingClassifier(max_iter=30, random_state=0)
    model.fit(train[FEATURES], train["label"])
    with kiln.start_run(experiment="explain"):
        logged = log_model(model, "model", input_example=train[FEATURES].head(5))
    version = registry.register_model(logged.uri, "scorer").version

    create_profile(store, project, "ref", train[FEATURES])
    spec = {"profile": "ref", "window": "1h", "explain": True}
    store.db.run(create_monitor, project, "m", target_kind="deployment", target="api", spec=spec)
    served = _frame(300, 1)
    log = PredictionLog(store, project=project)
    for n in range(30):
        part = served.iloc[n * 10 : (n + 1) * 10]
        log.record(
            PredictionRecord(
                request_id=f"r{n}", deployment="api", model="scorer", version=version,
                route="primary", inputs={c: part[c].tolist() for c in FEATURES},
                outputs={"predictions": part["label"].tolist()}, n_rows=10, latency_ms=1.0,
                time=START + timedelta(minutes=n),
            )
        )  # fmt: skip
    log.flush()
    log.close()

    (result,) = evaluate_monitor(store, project, "m", since=START, until=START + timedelta(hours=1))
    explained = orjson.loads(store.artifacts.read_bytes(result.digest))["explanations"]
    assert explained["method"] == "tree_shap"
    assert explained["model"] == f"models:/scorer/{version}"
    assert explained["rows"] == 300
    assert [item["feature"] for item in explained["importance"]] == ["signal", "noise"]
    assert explained["importance"][0]["value"] > 10 * explained["importance"][1]["value"]
    document = monitor_report(store, project, "m")
    assert document["explanations"]["method"] == "tree_shap"


def test_a_model_that_is_not_registered_is_skipped_with_the_reason(store: kiln.Context) -> None:
    import pyarrow as pa

    from kiln.monitoring._window_explain import explain_window

    table = pa.table({"signal": [1.0, 2.0], "_model": ["ghost", "ghost"], "_version": [1, 1]})
    found = explain_window(table, ["signal"], "label")
    assert found["model"] == "models:/ghost/1"
    assert "could not be explained" in found["skipped"]
    assert (
        "no registered model" in explain_window(table.drop(["_model"]), ["signal"], "l")["skipped"]
    )
