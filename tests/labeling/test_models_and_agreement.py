"""A project's agreement report, pre-annotations from a registered model, and next_batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import kiln
from kiln import labeling
from kiln.labeling import fleiss_kappa, krippendorff_alpha, rating_counts
from kiln.tracking import _fluent

COLOURS = {"task_type": "classification", "data_kind": "tabular", "labels": ["red", "green"]}


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def _answer_all(name: str, annotator: str, answers: dict[str, str]) -> None:
    while (task := labeling.next_task(name, annotator=annotator)) is not None:
        labeling.submit(name, task.id, answers[task.item_key], annotator=annotator, seconds=2.0)


def test_the_agreement_report_matches_the_statistics_on_the_same_answers(
    store: kiln.Context,
) -> None:
    items = pd.DataFrame({"item": [f"i{n}" for n in range(10)], "x": range(10)})
    gold = ["red", "green"] + [None] * 8  # i0 and i1 have known answers
    labeling.create_project("colours", COLOURS, overlap=3)
    labeling.add_tasks("colours", items.assign(gold=gold), key_column="item", gold_column="gold")
    truth = {f"i{n}": "red" if n % 2 == 0 else "green" for n in range(10)}
    ana = dict(truth)
    ben = {**truth, "i3": "red", "i5": "red"}
    cy = {**truth, "i0": "green", "i7": "red"}
    for who, answers in (("ana", ana), ("ben", ben), ("cy", cy)):
        _answer_all("colours", who, answers)

    report = labeling.agreement("colours")
    keys = sorted(truth)
    by_person = [[answers[k] for k in keys] for answers in (ana, ben, cy)]
    assert report.tasks_with_answers == report.tasks_shared == report.fleiss_tasks == 10
    assert report.krippendorff_alpha == pytest.approx(krippendorff_alpha(by_person))
    per_item = [[answers[k] for answers in (ana, ben, cy)] for k in keys]
    assert report.fleiss_kappa == pytest.approx(fleiss_kappa(rating_counts(per_item)[0]))
    assert {tuple(p["annotators"]) for p in report.cohen_kappa} == {
        ("ana", "ben"),
        ("ana", "cy"),
        ("ben", "cy"),
    }
    people = {a.annotator: a for a in report.annotators}
    assert people["ana"].gold_accuracy == 1.0
    assert people["cy"].gold_accuracy == 0.5  # i0 is gold "red"; cy said green
    assert people["ana"].answers == 10
    assert people["ana"].median_seconds == 2.0
    review = labeling.review_queue("colours")
    assert {t.item_key for t in review} == {"i0", "i3", "i5", "i7"}


IRIS = load_iris(as_frame=True)
FEATURES = list(IRIS.data.columns)


def _iris_model() -> str:
    model = LogisticRegression(max_iter=500).fit(
        IRIS.data, IRIS.target.map(dict(enumerate(IRIS.target_names)))
    )
    with kiln.start_run(run_name="iris"):
        logged = kiln.log_model(model, "model", input_example=IRIS.data.head(5))
    kiln.register_model(logged.uri, "iris")
    return "models:/iris/1"


def _iris_project(name: str, labels: list[str]) -> None:
    labeling.create_project(
        name, {"task_type": "classification", "data_kind": "tabular", "labels": labels}
    )
    labeling.add_tasks(name, IRIS.data)


def test_pre_annotations_are_checked_and_mismatches_reported_not_dropped(
    store: kiln.Context,
) -> None:
    model = _iris_model()
    _iris_project("iris", list(IRIS.target_names))
    done = labeling.preannotate("iris", model)
    assert done.applied == 150
    assert done.rejected == []
    task = labeling.next_task("iris", annotator="ana")
    assert task.prediction["label"] in IRIS.target_names
    assert 0.0 < task.prediction["score"] <= 1.0
    assert task.prediction["model"] == model

    _iris_project("two-kinds", ["setosa", "versicolor"])  # the schema has no virginica
    partial = labeling.preannotate("two-kinds", model)
    assert partial.applied + len(partial.rejected) == 150
    assert partial.rejected
    refused = partial.rejected[0]
    assert refused.prediction == "virginica"
    assert "not one of the project's labels" in refused.reason
    tasks, _ = kiln.get_context().db.read(
        labeling._tasks.list_tasks, "default", "two-kinds", limit=200
    )
    stored = {t.id: t.prediction for t in tasks}
    assert all(stored[r.task_id] is None for r in partial.rejected)


def test_next_batch_puts_the_tasks_the_model_doubts_first(store: kiln.Context) -> None:
    model = _iris_model()
    _iris_project("iris", list(IRIS.target_names))
    batch = labeling.next_batch("iris", model, 5, strategy="margin")
    assert len(batch) == 5
    proba = kiln.load_model(model).predict_proba(IRIS.data)
    ordered = np.sort(proba, axis=1)
    margins = ordered[:, -1] - ordered[:, -2]
    doubted = {str(i) for i in np.argsort(margins, kind="stable")[:5]}
    assert {t.item_key for t in batch} == doubted
    asked = []
    for _ in range(5):
        task = labeling.next_task("iris", annotator="ana")
        asked.append(task.item_key)
        labeling.submit("iris", task.id, task.prediction["label"], annotator="ana")
    assert asked == [t.item_key for t in batch]  # in the order the strategy picked them
    again = labeling.next_batch("iris", model, 3, diversity=True, seed=1)
    assert len(again) == 3
    assert not {t.item_key for t in again} & doubted  # answered tasks are not asked again


def test_likely_label_errors_go_to_the_review_queue_with_the_reason(store: kiln.Context) -> None:
    _iris_project("noisy", list(IRIS.target_names))
    truth = dict(enumerate(IRIS.target.map(dict(enumerate(IRIS.target_names)))))
    flipped = {3: "virginica", 60: "setosa", 120: "setosa"}  # clear mistakes
    while (task := labeling.next_task("noisy", annotator="ana")) is not None:
        row = int(task.item_key)
        labeling.submit("noisy", task.id, flipped.get(row, truth[row]), annotator="ana")
    assert labeling.review_queue("noisy") == []

    flagged = labeling.flag_label_errors("noisy", LogisticRegression(max_iter=500))
    queue = {int(t.item_key): t for t in labeling.review_queue("noisy")}
    assert set(flipped) <= set(queue)
    assert len(flagged) <= 10  # a few borderline flowers at most besides the planted ones
    assert "likely label error" in (queue[3].review_reason or "")
    assert "'virginica'" in (queue[3].review_reason or "")


def test_the_services_read_the_registry_of_the_context_they_are_given(
    store: kiln.Context, tmp_path: Path
) -> None:
    from kiln.labeling import _model_labels

    model = _iris_model()
    _iris_project("iris", list(IRIS.target_names))
    kiln.configure(home=tmp_path / "elsewhere")  # the process's default store has no model
    done = _model_labels.preannotate(store, store.settings.project, "iris", model)
    assert done.applied == 150
    batch = _model_labels.next_batch(store, store.settings.project, "iris", model, 2)
    assert len(batch) == 2
