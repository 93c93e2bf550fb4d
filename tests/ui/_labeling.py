"""The labeling pages' seed: small labeling projects made in a second or so (plus a model).

In project ``labeling-shop`` of the store (so the demo's pages stay as the other
tests expect), through the services the API and the CLI call:

- ``sentiment``: text classification of six product reviews (a dataset version,
  ``product-reviews@1``), two answers per task; review ``r3`` is a gold task.
- ``entities``: named entities (PRODUCT, ORG) on two sentences.
- ``topics``: multi-label text (price, battery, screen) on one review.
- ``loans``: tabular approve/reject/unsure over income and debt; with
  ``with_model`` a logistic regression registered as ``loan-model`` pre-annotates
  every task (``kiln.labeling.preannotate``).
- ``photos``: image classification, one item a ``data:`` PNG, one a file path.
- ``all-done``: one task, already answered: nothing is left to label.
- ``disputed``: named entities, two answers per task; ``seed-a`` and ``seed-b`` marked
  different spans on its one sentence, so it waits in the review queue.

``seed(home)`` also makes two annotators (editors ``lab-ana`` and ``lab-ben``), a
reviewer (admin ``lab-rita``) and a viewer (``lab-vic``), each with a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kiln import auth
from kiln.context import Context, using_context
from kiln.labeling import _intake, _projects, _tasks
from kiln.labeling._ui_support import create_with_items
from kiln.tracking import _fluent
from tests.ui._seed import settings

if TYPE_CHECKING:
    import pyarrow as pa

PROJECT = "labeling-shop"
SENTIMENT = "sentiment"
ENTITIES = "entities"
TOPICS = "topics"
LOANS = "loans"
PHOTOS = "photos"
DONE = "all-done"
DISPUTED = "disputed"
DATASET = "product-reviews"
MODEL = "loan-model"

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
        "known": [None, None, None, "negative", None, None],
    }
)
SENTIMENT_SCHEMA = {
    "task_type": "classification",
    "data_kind": "text",
    "labels": ["positive", "negative", "neutral"],
    "text_field": "text",
    "instructions": "How does the customer feel?",
}
ENTITY_TEXT = "Acme Phone X is made by Acme Corp in Lyon"
ENTITY_SCHEMA = {"task_type": "ner", "text_field": "text", "labels": ["PRODUCT", "ORG"]}
TOPIC_SCHEMA = {
    "task_type": "multilabel",
    "data_kind": "text",
    "text_field": "text",
    "labels": ["price", "battery", "screen"],
}
LOAN_SCHEMA = {
    "task_type": "classification",
    "data_kind": "tabular",
    "labels": ["approve", "reject", "unsure"],
    "fields": ["income", "debt"],
}
LOANS_TABLE = pd.DataFrame(
    {"applicant": ["a1", "a2", "a3"], "income": [95, 12, 88], "debt": [1, 9, 2]}
)
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
    "+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PHOTO_SCHEMA = {
    "task_type": "classification",
    "data_kind": "image",
    "image_field": "image",
    "labels": ["cat", "dog"],
}
DISPUTED_ANSWERS = {
    "seed-a": [{"start": 0, "end": 12, "label": "PRODUCT"}],
    "seed-b": [{"start": 0, "end": 4, "label": "ORG"}, {"start": 24, "end": 33, "label": "ORG"}],
}
USERS = {"lab-ana": "editor", "lab-ben": "editor", "lab-rita": "admin", "lab-vic": "viewer"}


@dataclass(frozen=True)
class LabelingSeed:
    tokens: dict[str, str]  # user -> token secret


_SEEDED: dict[Path, LabelingSeed] = {}


def _table(frame: pd.DataFrame) -> pa.Table:
    import pyarrow as pa

    return pa.Table.from_pandas(frame, preserve_index=False)


def _loan_model(context: Context) -> str:
    from sklearn.linear_model import LogisticRegression

    import kiln

    frame = pd.DataFrame({"income": [10, 20, 30, 80, 90, 100], "debt": [5, 9, 3, 1, 2, 1]})
    answers = ["reject", "reject", "reject", "approve", "approve", "approve"]
    model = LogisticRegression().fit(frame, answers)
    with using_context(context):
        with kiln.start_run(run_name="loan-model"):
            logged = kiln.log_model(model, "model", input_example=frame.head(2))
        version = kiln.register_model(logged.uri, MODEL)
    return f"models:/{MODEL}/{version.version}"


def make_projects(context: Context, *, with_model: bool = True) -> None:
    """The labeling projects above, in ``context``'s project."""
    import kiln.data
    from kiln.labeling import _model_labels

    project = context.settings.project
    context.db.run(auth.ensure_project, project)
    try:
        with using_context(context):
            version = kiln.data.register_dataset(REVIEWS, DATASET)
        create_with_items(
            context,
            project,
            SENTIMENT,
            SENTIMENT_SCHEMA,
            dataset=version.uri,
            overlap=2,
            key_column="review_id",
            gold_column="known",
            description="How customers feel about the phone",
            user="seed",
        )
        for name, schema, frame, key in (
            (
                ENTITIES,
                ENTITY_SCHEMA,
                pd.DataFrame({"id": ["s1", "s2"], "text": [ENTITY_TEXT, "Globex sells Zed"]}),
                "id",
            ),
            (TOPICS, TOPIC_SCHEMA, pd.DataFrame({"id": ["t1"], "text": ["Cheap, but dim"]}), "id"),
            (LOANS, LOAN_SCHEMA, LOANS_TABLE, "applicant"),
            (
                PHOTOS,
                PHOTO_SCHEMA,
                pd.DataFrame({"id": ["p1", "p2"], "image": [PNG, "/data/photos/p2.jpg"]}),
                "id",
            ),
            (DONE, SENTIMENT_SCHEMA, pd.DataFrame({"id": ["d1"], "text": ["Works"]}), "id"),
        ):
            context.db.run(_projects.create_project, project, name, schema, user="seed")
            _intake.add_from_table(
                context,
                project,
                name,
                _table(frame),
                key_column=key,
            )
        context.db.run(
            _projects.create_project, project, DISPUTED, ENTITY_SCHEMA, overlap=2, user="seed"
        )
        frame = pd.DataFrame({"id": ["q1"], "text": [ENTITY_TEXT]})
        _intake.add_from_table(context, project, DISPUTED, _table(frame), key_column="id")
        disputed = context.db.read(_tasks.next_task, project, DISPUTED, "seed-a")
        assert disputed is not None
        for who, spans in DISPUTED_ANSWERS.items():
            context.db.run(_tasks.submit, project, DISPUTED, disputed.id, who, spans)
        finished = context.db.read(_tasks.next_task, project, DONE, "seed")
        assert finished is not None
        context.db.run(_tasks.submit, project, DONE, finished.id, "seed", "positive")
        if with_model:
            model = _loan_model(context)
            # load_model reads the registry of the current context, not the one passed in.
            with using_context(context):
                _model_labels.preannotate(context, project, LOANS, model)
    finally:
        _fluent._reset_for_tests()


def seed(home: Path) -> LabelingSeed:
    """The projects, two annotators, a reviewer and a viewer in the store at ``home``."""
    if home not in _SEEDED:
        context = Context(settings(home).model_copy(update={"project": PROJECT}))
        try:
            make_projects(context)
            tokens = {}
            for user, role in USERS.items():
                context.db.run(auth.create_user, user)
                context.db.run(auth.set_member, PROJECT, user, role)
                tokens[user] = context.db.run(auth.create_token, user, PROJECT).secret
        finally:
            context.close()
        _SEEDED[home] = LabelingSeed(tokens)
    return _SEEDED[home]
