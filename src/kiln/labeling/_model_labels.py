"""A registered model's opinion of tasks: pre-annotations, and what to label next.

The model is loaded from the registry (``models:/name@alias``) and given a
DataFrame of the tasks' fields (what the schema shows). Its class
probabilities name labels through the model's own classes (``classes_``),
matched to the schema's labels by their text. Every prediction goes
through the schema's check: one the schema does not allow — a class it
does not know, probabilities that do not cover its labels — is rejected
with the reason and reported, never stored and never dropped silently.

``next_batch`` asks the model about the open tasks nobody has answered,
picks ``k`` with an active-learning strategy (``_strategies.select_batch``)
and moves them to the front of the queue, with the model's guesses as
their pre-annotations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.db.tables.labeling import AnnotationRow, LabelingTaskRow
from kiln.errors import InvalidInput
from kiln.labeling._entities import Task
from kiln.labeling._projects import project_row
from kiln.labeling._schema import LabelSchema

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["Preannotation", "Rejection", "next_batch", "preannotate"]

#: Open tasks asked about at most per call (the newest first).
POOL = 20_000


@dataclass(frozen=True)
class Rejection:
    """A prediction the schema refused, and why."""

    task_id: int
    item_key: str
    prediction: Any
    reason: str


@dataclass(frozen=True)
class Preannotation:
    """What a pre-annotation pass did: tasks given a prediction, and the predictions refused."""

    model: str
    applied: int
    rejected: list[Rejection] = field(default_factory=list)


def _candidates(
    session: Session, project: str, name: str, *, unanswered: bool
) -> tuple[LabelSchema, list[tuple[int, str, dict[str, Any]]]]:
    owner = project_row(session, project, name)
    query = select(LabelingTaskRow.id, LabelingTaskRow.item_key, LabelingTaskRow.data).where(
        LabelingTaskRow.labeling_project_id == owner.id, LabelingTaskRow.status == "open"
    )
    if unanswered:
        query = query.where(LabelingTaskRow.id.not_in(select(AnnotationRow.task_id)))
    rows = session.execute(query.order_by(LabelingTaskRow.id.desc()).limit(POOL)).all()
    schema = LabelSchema.parse(json.loads(owner.label_schema))
    return schema, [(row.id, row.item_key, json.loads(row.data)) for row in reversed(rows)]


def _probabilities(
    context: Context, model_uri: str, data: list[dict[str, Any]]
) -> tuple[Any, list[str]]:
    """The model's class probabilities for the rows, and the class of each column (as text)."""
    import numpy as np
    import pandas as pd

    from kiln.context import using_context
    from kiln.registry import load_model

    with using_context(context):  # the registry of this context, not the process's default
        model = load_model(model_uri)
    if not hasattr(model, "predict_proba"):
        raise InvalidInput(
            f"{model_uri} has no predict_proba: pre-annotations and active learning need "
            "class probabilities",
            field="model",
        )
    proba = np.asarray(model.predict_proba(pd.DataFrame(data)), dtype=float)
    native = getattr(model, "native", model)
    classes = getattr(native, "classes_", None)
    if classes is None:
        raise InvalidInput(
            f"{model_uri} does not say which class each probability is for (no classes_)",
            field="model",
        )
    return proba, [str(c) for c in list(classes)]


def _label_of(schema: LabelSchema, classes: list[str], row: Any) -> tuple[Any, float]:
    """The label and score a row of probabilities makes, checked by the schema."""
    if schema.task_type == "ner":
        raise InvalidInput("span tasks take pre-annotations as spans, not classes", field="model")
    if schema.task_type == "multilabel":
        chosen = [classes[i] for i, p in enumerate(row) if p >= 0.5]
        score = float(min((p for p in row if p >= 0.5), default=1 - max(row)))
        return schema.check(chosen, what="the model's prediction"), score
    best = int(row.argmax())
    return schema.check(classes[best], what="the model's prediction"), float(row[best])


def _write(
    session: Session, predictions: dict[int, dict[str, Any]], priorities: dict[int, float]
) -> None:
    """Store pre-annotations and new queue priorities, one transaction for all."""
    for task_id in predictions.keys() | priorities.keys():
        values: dict[str, Any] = {}
        if task_id in predictions:
            values["prediction"] = json.dumps(predictions[task_id])
        if task_id in priorities:
            values["priority"] = priorities[task_id]
        session.execute(
            update(LabelingTaskRow).where(LabelingTaskRow.id == task_id).values(**values)
        )


def preannotate(context: Context, project: str, name: str, model_uri: str) -> Preannotation:
    """Give the open tasks the model's label and score; report the predictions refused."""
    schema, tasks = context.db.read(_candidates, project, name, unanswered=False)
    if not tasks:
        return Preannotation(model_uri, 0)
    proba, classes = _probabilities(context, model_uri, [data for _, _, data in tasks])
    predictions: dict[int, dict[str, Any]] = {}
    rejected = []
    for (task_id, key, _), row in zip(tasks, proba, strict=True):
        try:
            label, score = _label_of(schema, classes, row)
        except InvalidInput as refused:
            top = classes[int(row.argmax())] if len(classes) == len(row) else None
            rejected.append(Rejection(task_id, key, top, str(refused)))
            continue
        predictions[task_id] = {"label": label, "score": score, "model": model_uri}
    context.db.run(_write, predictions, {})
    return Preannotation(model_uri, len(predictions), rejected)


def next_batch(
    context: Context,
    project: str,
    name: str,
    model_uri: str,
    k: int,
    *,
    strategy: str = "margin",
    diversity: bool = False,
    seed: int | None = None,
) -> list[Task]:
    """The ``k`` unanswered tasks the model is least sure of, moved to the front of the queue.

    With ``diversity`` the batch also spreads over the tasks' numeric fields,
    so it is not ``k`` near-duplicates. The chosen tasks get the model's
    guess as their pre-annotation.
    """
    import numpy as np
    import pandas as pd

    from kiln.labeling._strategies import select_batch

    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInput(f"k must be a whole number of at least 1, got {k!r}", field="k")
    schema, tasks = context.db.read(_candidates, project, name, unanswered=True)
    if not tasks:
        return []
    data = [row for _, _, row in tasks]
    proba, classes = _probabilities(context, model_uri, data)
    features = None
    if diversity:
        frame = pd.DataFrame(data).select_dtypes("number")
        features = frame.to_numpy(dtype=float) if frame.shape[1] else None
    picked = select_batch(proba, k, strategy=strategy, features=features, seed=seed)  # type: ignore[arg-type]
    top = float(context.db.read(_top_priority, project, name))
    predictions: dict[int, dict[str, Any]] = {}
    priorities: dict[int, float] = {}
    for rank, index in enumerate(np.asarray(picked).tolist()):
        task_id = tasks[index][0]
        priorities[task_id] = top + len(picked) - rank
        try:
            label, score = _label_of(schema, classes, proba[index])
        except InvalidInput:
            continue  # still worth asking a person; the refusal shows in preannotate's report
        predictions[task_id] = {"label": label, "score": score, "model": model_uri}
    context.db.run(_write, predictions, priorities)
    from kiln.labeling._tasks import get_task

    return [context.db.read(get_task, project, name, task_id) for task_id in priorities]


def _top_priority(session: Session, project: str, name: str) -> float:
    from sqlalchemy import func

    owner = project_row(session, project, name)
    found = session.scalar(
        select(func.max(LabelingTaskRow.priority)).where(
            LabelingTaskRow.labeling_project_id == owner.id
        )
    )
    return float(found or 0.0)
