"""Labeling projects on real stores: tasks, the queue, answers, consensus, review, export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import kiln
import kiln.data
from kiln import labeling
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from kiln.tracking import _fluent

REVIEWS = pd.DataFrame(
    {
        "review_id": [f"r{i}" for i in range(6)],
        "text": [
            "Great phone, the battery lasts for days",
            "Broke after a week",
            "It is fine",
            "Terrible support, never again",
            "Love it",
            "Meh",
        ],
        "stars": [5, 1, 3, 1, 5, 2],
        "known": ["positive", None, None, "negative", None, None],
    }
)
SENTIMENT = {
    "task_type": "classification",
    "data_kind": "text",
    "labels": ["positive", "negative", "neutral"],
    "text_field": "text",
    "instructions": "How does the customer feel?",
}


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


@pytest.fixture
def reviews(store: kiln.Context) -> str:
    version = kiln.data.register_dataset(REVIEWS, "reviews")
    return f"reviews@{version.version}"


def test_a_project_over_a_dataset_version_has_one_task_per_row(
    store: kiln.Context, reviews: str
) -> None:
    made = labeling.create_project(
        "sentiment", SENTIMENT, dataset=reviews, key_column="review_id", gold_column="known"
    )
    assert made.counts["tasks"] == 6
    assert made.source == reviews
    assert made.schema.shortcuts == ("1", "2", "3")
    assert labeling.add_tasks("sentiment", reviews, key_column="review_id") == 0  # no twice
    task = labeling.next_task("sentiment", annotator="ana")
    assert task is not None
    assert task.item_key == "r0"
    assert task.data == {"text": "Great phone, the battery lasts for days"}  # only what is shown
    assert task.is_gold
    with pytest.raises(AlreadyExists):
        labeling.create_project("sentiment", SENTIMENT)


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({**SENTIMENT, "labels": []}, "schema.labels"),
        ({**SENTIMENT, "labels": ["a", "a"]}, "schema.labels"),
        ({**SENTIMENT, "task_type": "ranking"}, "schema.task_type"),
        ({**SENTIMENT, "text_field": None}, "schema.text_field"),
        ({**SENTIMENT, "colour": "red"}, "schema.colour"),
        ({**SENTIMENT, "task_type": "ner", "data_kind": "image"}, "schema.data_kind"),
        ({**SENTIMENT, "shortcuts": ["a", "a", "b"]}, "schema.shortcuts"),
    ],
)
def test_a_bad_schema_is_refused_with_the_field(
    store: kiln.Context, schema: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        labeling.create_project("bad", schema)
    assert caught.value.field == field
    with pytest.raises(NotFound):
        labeling.get_project("bad")


def test_three_annotators_make_a_consensus_and_disagreement_goes_to_review(
    store: kiln.Context, reviews: str
) -> None:
    labeling.create_project("sentiment", SENTIMENT, dataset=reviews, overlap=3)
    first = labeling.next_task("sentiment", annotator="ana")
    assert first is not None
    for who, label in (("ana", "positive"), ("ben", "positive")):
        done = labeling.submit("sentiment", first.id, label, annotator=who)
        assert not done.completed
    assert labeling.next_task("sentiment", annotator="ana").id != first.id  # answered already
    done = labeling.submit("sentiment", first.id, "neutral", annotator="cy", comment="unsure")
    assert done.completed
    assert done.task.consensus == "positive"
    assert done.task.agreement == pytest.approx(2 / 3)
    assert done.task.needs_review
    assert "2 of 3" in (done.task.review_reason or "")
    with pytest.raises(Conflict, match="complete"):
        labeling.submit("sentiment", first.id, "negative", annotator="dee")

    queue = labeling.review_queue("sentiment")
    assert [t.id for t in queue] == [first.id]
    reviewed = labeling.review("sentiment", first.id, "neutral", reviewer="rita")
    assert (reviewed.status, reviewed.consensus, reviewed.reviewed_by) == (
        "reviewed",
        "neutral",
        "rita",
    )
    assert labeling.review_queue("sentiment") == []
    assert [a.comment for a in reviewed.annotations] == ["", "", "unsure"]


def test_a_skip_is_not_an_answer_and_the_skipper_moves_on(
    store: kiln.Context, reviews: str
) -> None:
    labeling.create_project("sentiment", SENTIMENT, dataset=reviews)
    task = labeling.next_task("sentiment", annotator="ana")
    assert task is not None
    skipped = labeling.submit("sentiment", task.id, skip=True, annotator="ana")
    assert not skipped.completed
    assert labeling.next_task("sentiment", annotator="ana").id != task.id
    assert labeling.next_task("sentiment", annotator="ben").id == task.id


@pytest.mark.parametrize(
    "label", ["happy", None, ["positive"], 3], ids=["unknown", "none", "list", "number"]
)
def test_an_answer_outside_the_schema_is_refused_and_nothing_is_stored(
    store: kiln.Context, reviews: str, label: Any
) -> None:
    labeling.create_project("sentiment", SENTIMENT, dataset=reviews)
    task = labeling.next_task("sentiment", annotator="ana")
    assert task is not None
    with pytest.raises(InvalidInput, match="not one of the project's labels") as caught:
        labeling.submit("sentiment", task.id, label, annotator="ana")
    assert caught.value.field == "label"
    assert labeling.next_task("sentiment", annotator="ana").annotations == []


def test_multilabel_and_span_answers_are_checked_and_normalised(store: kiln.Context) -> None:
    labeling.create_project(
        "topics",
        {"task_type": "multilabel", "data_kind": "text", "text_field": "text",
         "labels": ["price", "battery", "screen"]},
    )  # fmt: skip
    labeling.add_tasks("topics", pd.DataFrame({"text": ["cheap, battery ok"]}))
    task = labeling.next_task("topics", annotator="ana")
    with pytest.raises(InvalidInput, match="twice"):
        labeling.submit("topics", task.id, ["price", "price"], annotator="ben")
    done = labeling.submit("topics", task.id, ["battery", "price"], annotator="ana")
    assert done.task.consensus == ["price", "battery"]  # in the schema's order

    labeling.create_project(
        "entities",
        {"task_type": "ner", "text_field": "text", "labels": ["PRODUCT", "ORG"]},
    )
    labeling.add_tasks("entities", pd.DataFrame({"text": ["Acme Phone X by Acme"]}))
    task = labeling.next_task("entities", annotator="ana")
    spans = [{"start": 16, "end": 20, "label": "ORG"}, {"start": 0, "end": 12, "label": "PRODUCT"}]
    done = labeling.submit("entities", task.id, spans, annotator="ana")
    assert done.task.consensus == sorted(spans, key=lambda s: s["start"])
    for bad, message in (
        ([{"start": 0, "end": 99, "label": "ORG"}], "inside the text"),
        ([{"start": 0, "end": 5, "label": "PERSON"}], "PERSON"),
        (
            [{"start": 0, "end": 6, "label": "ORG"}, {"start": 5, "end": 9, "label": "ORG"}],
            "overlap",
        ),
        ([{"begin": 0}], "needs start, end and label"),
    ):
        labeling.create_project(f"e-{message[:5]}", {"task_type": "ner", "text_field": "text",
                                                      "labels": ["PRODUCT", "ORG"]})  # fmt: skip
        labeling.add_tasks(f"e-{message[:5]}", pd.DataFrame({"text": ["Acme Phone X by Acme"]}))
        fresh = labeling.next_task(f"e-{message[:5]}", annotator="ana")
        with pytest.raises(InvalidInput, match=message):
            labeling.submit(f"e-{message[:5]}", fresh.id, bad, annotator="ana")


def _label_all(name: str, answers: dict[str, str]) -> None:
    while (task := labeling.next_task(name, annotator="ana")) is not None:
        labeling.submit(name, task.id, answers[task.item_key], annotator="ana")


def test_labelled_tasks_export_as_a_dataset_version_and_as_files(
    store: kiln.Context, reviews: str, tmp_path: Path
) -> None:
    labeling.create_project("sentiment", SENTIMENT, dataset=reviews, key_column="review_id")
    answers = {f"r{i}": ["positive", "negative", "neutral"][i % 3] for i in range(6)}
    _label_all("sentiment", answers)

    version = labeling.export("sentiment", dataset="reviews-labelled")
    frame = kiln.data.load(f"reviews-labelled@{version.version}")
    assert sorted(frame["item_key"]) == sorted(answers)
    assert dict(zip(frame["item_key"], frame["label"], strict=True)) == answers
    assert set(frame.columns) >= {"text", "label", "agreement", "annotators"}
    assert version.source == "labeling:sentiment"
    again = labeling.export("sentiment", dataset="reviews-labelled")
    assert again.version == version.version  # same content, same version

    lines = tmp_path / "labels.jsonl"
    assert labeling.export("sentiment", path=lines) == 6
    rows = [json.loads(line) for line in lines.read_text().splitlines()]
    assert {row["item_key"]: row["label"] for row in rows} == answers
    table = tmp_path / "labels.csv"
    assert labeling.export("sentiment", path=table, format="csv") == 6
    with table.open() as handle:
        assert {row["item_key"]: row["label"] for row in csv.DictReader(handle)} == answers
    with pytest.raises(InvalidInput):
        labeling.export("sentiment", dataset="x", path=lines)


def test_an_export_of_nothing_labelled_says_so(store: kiln.Context, reviews: str) -> None:
    labeling.create_project("sentiment", SENTIMENT, dataset=reviews)
    with pytest.raises(InvalidInput, match="no labelled task"):
        labeling.export("sentiment", dataset="empty")


def test_an_export_longer_than_a_page_keeps_one_schema(
    store: kiln.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiln.labeling import _export

    monkeypatch.setattr(_export, "PAGE", 3)  # pages of 3 tasks: the reviewer comes in page 2
    labeling.create_project("long", {**SENTIMENT, "fields": ["note"]})
    labeling.add_tasks("long", pd.DataFrame({"text": [f"t{i}" for i in range(7)],
                                             "note": [None] * 3 + ["late"] * 4}))  # fmt: skip
    _label_all("long", {str(i): "neutral" for i in range(7)})
    last = labeling.next_task("long", annotator="zed")
    assert last is None
    labeling.review("long", 5, "positive", reviewer="rita")  # task ids 1..7: the 5th, page 2
    version = labeling.export("long", dataset="long-labels")
    frame = kiln.data.load(f"long-labels@{version.version}")
    assert len(frame) == 7
    assert frame.loc[frame["item_key"] == "4", "reviewed_by"].item() == "rita"
    assert frame["note"].tolist()[-1] == "late"


def test_a_project_whose_rows_cannot_be_added_is_not_left_behind(
    store: kiln.Context, reviews: str
) -> None:
    with pytest.raises(InvalidInput, match="no column 'review'"):
        labeling.create_project("sentiment", SENTIMENT, dataset=reviews, key_column="review")
    with pytest.raises(NotFound):
        labeling.get_project("sentiment")
