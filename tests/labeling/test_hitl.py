"""Human in the loop: a deployment's unsure answers, read from its prediction log, become tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import kiln
from kiln import labeling
from kiln.errors import InvalidInput
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.tracking import _fluent

IRIS = load_iris(as_frame=True)
FEATURES = list(IRIS.data.columns)
NAMES = dict(enumerate(IRIS.target_names))
START = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def _served(store: kiln.Context) -> tuple[LogisticRegression, int]:
    """A classifier registered as `iris` v1, and 15 logged requests of 10 rows it answered."""
    model = LogisticRegression(max_iter=500).fit(IRIS.data, IRIS.target.map(NAMES))
    with kiln.start_run(run_name="iris"):
        logged = kiln.log_model(model, "model", input_example=IRIS.data.head(5))
    version = kiln.register_model(logged.uri, "iris").version
    log = PredictionLog(store, project=store.settings.project)
    for n in range(15):
        part = IRIS.data.iloc[n * 10 : (n + 1) * 10]
        proba = model.predict_proba(part)
        log.record(
            PredictionRecord(
                request_id=f"q{n}", deployment="iris-api", model="iris", version=version,
                route="primary", inputs={c: part[c].tolist() for c in FEATURES},
                outputs={"predictions": model.predict(part).tolist(),
                         "probabilities": proba.tolist()},
                n_rows=10, latency_ms=1.0, time=START + timedelta(minutes=n),
            )
        )  # fmt: skip
    log.flush()
    log.close()
    return model, version


@pytest.mark.parametrize("score_output", [None, "probabilities"])
def test_answers_less_sure_than_the_threshold_become_tasks_once(
    store: kiln.Context, score_output: str | None
) -> None:
    model, version = _served(store)
    labeling.create_project(
        "iris-review",
        {"task_type": "classification", "data_kind": "tabular",
         "labels": list(IRIS.target_names)},
    )  # fmt: skip
    confidence = model.predict_proba(IRIS.data).max(axis=1)
    unsure = {f"q{i // 10}:{i % 10}" for i in np.flatnonzero(confidence < 0.9)}
    assert unsure  # iris has its borderline flowers

    intake = labeling.intake_low_confidence(
        "iris-review", "iris-api", threshold=0.9, since=START, score_output=score_output
    )
    assert (intake.requests, intake.rows, intake.unscored) == (15, 150, 0)
    assert intake.unsure == intake.added == len(unsure)
    again = labeling.intake_low_confidence(
        "iris-review", "iris-api", threshold=0.9, since=START, score_output=score_output
    )
    assert again.added == 0  # the same window adds nothing twice

    first = labeling.next_task("iris-review", annotator="ana")
    assert first.origin == "serving"
    assert first.item_key in unsure
    assert first.prediction["model"] == f"models:/iris/{version}"
    assert first.prediction["score"] == pytest.approx(confidence.min())  # least sure first
    assert first.prediction["label"] in IRIS.target_names
    assert set(first.data) == set(FEATURES)


def test_a_bad_threshold_is_refused(store: kiln.Context) -> None:
    labeling.create_project("p", {"task_type": "classification", "labels": ["a", "b"]})
    for bad in (0, 1.5, "high", True):
        with pytest.raises(InvalidInput) as caught:
            labeling.intake_low_confidence("p", "api", threshold=bad)  # type: ignore[arg-type]
        assert caught.value.field == "threshold"
