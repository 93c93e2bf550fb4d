"""Retraining on new labels through a pipeline: the export step runs again every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import kiln
from kiln import labeling
from kiln.pipelines import load_output
from kiln.tracking import _fluent
from tests.labeling._retrain import retrain

SCHEMA = {"task_type": "classification", "data_kind": "tabular", "labels": ["red", "green"]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store")
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def _answer(count: int) -> None:
    for _ in range(count):
        task = labeling.next_task("colours", annotator="ana")
        labeling.submit(
            "colours", task.id, "red" if task.data["x"] % 2 else "green", annotator="ana"
        )


def test_each_run_trains_on_the_labels_there_are_then(store: kiln.Context) -> None:
    labeling.create_project("colours", SCHEMA)
    labeling.add_tasks("colours", pd.DataFrame({"x": range(10)}))
    _answer(4)
    first = retrain.run({"project": "colours"})
    _answer(3)
    second = retrain.run({"project": "colours"})
    third = retrain.run({"project": "colours"})

    assert load_output(first.id, "export_labels") == "colours-labels@1"
    assert load_output(second.id, "export_labels") == "colours-labels@2"
    assert load_output(third.id, "export_labels") == "colours-labels@2"  # same labels, same version
    assert load_output(first.id, "fit")["labels"] == 4
    assert load_output(second.id, "fit")["labels"] == 7
    exported = {step.step: step.cached for step in second.steps}
    assert exported["export_labels"] is False
    assert exported["fit"] is False
    assert {step.step: step.cached for step in third.steps}["fit"] is True  # nothing new to learn
