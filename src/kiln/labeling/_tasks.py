"""The labeling queue: the next task for an annotator, answers, consensus, review.

An annotator is given the open task of highest priority (oldest first on a
tie) that they have neither answered nor skipped. A task is complete once
``overlap`` annotators answered it; its consensus is then the majority
label, and its agreement the share of answers that match it. A task whose
annotators disagree (or that a later check flags) waits in the review
queue, where a reviewer's label is final.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db._base import utcnow
from kiln.db.tables.labeling import AnnotationRow, LabelingTaskRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.labeling._entities import Annotation, Task
from kiln.labeling._projects import project_row
from kiln.labeling._schema import LabelSchema

__all__ = [
    "Submitted",
    "get_task",
    "list_tasks",
    "majority",
    "next_task",
    "review_queue",
    "review_task",
    "submit",
]

MAX_COMMENT = 10_000


def _schema(row: Any) -> LabelSchema:
    return LabelSchema.parse(json.loads(row.label_schema))


def _key(label: Any) -> str:
    return json.dumps(label, sort_keys=True)


def majority(labels: Sequence[Any]) -> tuple[Any, float, bool]:
    """``(label, share, tied)``: the most given label, its share, whether another had as many.

    Labels compare by their JSON form, so a multi-label set or a list of
    spans agrees only when it is the same. A tie keeps the label given
    first (deterministic), and is reported so the task goes to review.
    """
    if not labels:
        raise InvalidInput("no answers to decide from", field="labels")
    counts = Counter(_key(label) for label in labels)
    (best, top), *rest = counts.most_common()
    first = next(label for label in labels if _key(label) == best)
    tied = bool(rest) and rest[0][1] == top
    if tied:
        leaders = {key for key, n in counts.items() if n == top}
        first = next(label for label in labels if _key(label) in leaders)
    return first, top / len(labels), tied


def _task_row(session: Session, project_row_id: int, task_id: int) -> LabelingTaskRow:
    row = session.get(LabelingTaskRow, task_id, with_for_update=True)
    if row is None or row.labeling_project_id != project_row_id:
        raise NotFound(f"no task {task_id} in this labeling project")
    return row


def _annotations(session: Session, task_ids: Sequence[int]) -> dict[int, list[Annotation]]:
    found: dict[int, list[Annotation]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        for row in session.scalars(
            select(AnnotationRow)
            .where(AnnotationRow.task_id.in_(list(task_ids)))
            .order_by(AnnotationRow.created_at, AnnotationRow.id)
        ):
            found[row.task_id].append(Annotation.of(row))
    return found


def get_task(session: Session, project: str, name: str, task_id: int) -> Task:
    owner = project_row(session, project, name)
    row = _task_row(session, owner.id, task_id)
    return Task.of(row, _annotations(session, [row.id])[row.id])


def next_task(session: Session, project: str, name: str, annotator: str) -> Task | None:
    """The open task ``annotator`` should label now, or None when they have none left."""
    owner = project_row(session, project, name)
    answered = select(AnnotationRow.task_id).where(AnnotationRow.annotator == annotator)
    row = session.scalar(
        select(LabelingTaskRow)
        .where(
            LabelingTaskRow.labeling_project_id == owner.id,
            LabelingTaskRow.status == "open",
            LabelingTaskRow.id.not_in(answered),
        )
        .order_by(LabelingTaskRow.priority.desc(), LabelingTaskRow.id)
        .limit(1)
    )
    return None if row is None else Task.of(row, _annotations(session, [row.id])[row.id])


@dataclass(frozen=True)
class Submitted:
    """What an answer did: the task as it is now, and whether this answer completed it."""

    task: Task
    completed: bool


def submit(
    session: Session,
    project: str,
    name: str,
    task_id: int,
    annotator: str,
    label: Any = None,
    *,
    skip: bool = False,
    comment: str = "",
    seconds: float | None = None,
) -> Submitted:
    """Record ``annotator``'s answer (or skip) to a task; complete it once enough answered.

    Answering again replaces the annotator's earlier answer while the task
    is open; a complete task takes no new answers (``Conflict``: a reviewer
    decides it).
    """
    if not annotator:
        raise InvalidInput("an answer needs its annotator", field="annotator")
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"comment must be text of up to {MAX_COMMENT} characters", field="comment"
        )
    if seconds is not None and (not isinstance(seconds, int | float) or seconds < 0):
        raise InvalidInput("seconds must be zero or more", field="seconds")
    owner = project_row(session, project, name)
    row = _task_row(session, owner.id, task_id)
    if row.status != "open":
        raise Conflict(f"task {task_id} is {row.status}: it takes no more answers")
    stored = None
    if not skip:
        stored = json.dumps(_schema(owner).check(label, json.loads(row.data)))
    answer = session.scalar(
        select(AnnotationRow).where(
            AnnotationRow.task_id == task_id, AnnotationRow.annotator == annotator
        )
    )
    if answer is None:
        answer = AnnotationRow(task_id=task_id, annotator=annotator)
        session.add(answer)
    answer.label, answer.skipped = stored, skip
    answer.comment, answer.seconds, answer.created_at = comment, seconds, utcnow()
    session.flush()
    given = [
        json.loads(text)
        for text in session.scalars(
            select(AnnotationRow.label).where(
                AnnotationRow.task_id == task_id, AnnotationRow.skipped.is_(False)
            )
        )
        if text is not None
    ]
    completed = len(given) >= owner.overlap
    if completed:
        label_, share, tied = majority(given)
        row.status, row.completed_at = "complete", utcnow()
        row.consensus, row.agreement = json.dumps(label_), share
        if tied or (owner.overlap > 1 and share < 1.0):
            row.needs_review = True
            row.review_reason = (
                f"annotators disagree: {round(share * len(given))} of {len(given)} gave the "
                "consensus" + (" (a tie)" if tied else "")
            )
    session.flush()
    return Submitted(Task.of(row, _annotations(session, [row.id])[row.id]), completed)


def review_queue(session: Session, project: str, name: str, *, limit: int = 100) -> list[Task]:
    """Tasks waiting for a reviewer, oldest first."""
    owner = project_row(session, project, name)
    rows = list(
        session.scalars(
            select(LabelingTaskRow)
            .where(LabelingTaskRow.labeling_project_id == owner.id, LabelingTaskRow.needs_review)
            .order_by(LabelingTaskRow.id)
            .limit(limit)
        )
    )
    answers = _annotations(session, [row.id for row in rows])
    return [Task.of(row, answers[row.id]) for row in rows]


def review_task(
    session: Session,
    project: str,
    name: str,
    task_id: int,
    reviewer: str,
    label: Any,
    *,
    note: str = "",
) -> Task:
    """A reviewer's final label for a task: it becomes the consensus, and the task reviewed."""
    if not reviewer:
        raise InvalidInput("a review needs its reviewer", field="reviewer")
    owner = project_row(session, project, name)
    row = _task_row(session, owner.id, task_id)
    row.consensus = json.dumps(_schema(owner).check(label, json.loads(row.data)))
    row.status, row.needs_review, row.reviewed_by = "reviewed", False, reviewer
    row.review_reason = note or row.review_reason
    row.completed_at = row.completed_at or utcnow()
    session.flush()
    return Task.of(row, _annotations(session, [row.id])[row.id])


def list_tasks(
    session: Session,
    project: str,
    name: str,
    *,
    status: str | None = None,
    offset: int = 0,
    limit: int = 100,
) -> tuple[list[Task], int]:
    """A page of tasks (by id) and how many there are with that status."""
    owner = project_row(session, project, name)
    where = [LabelingTaskRow.labeling_project_id == owner.id]
    if status is not None:
        where.append(LabelingTaskRow.status == status)
    total = session.scalar(select(func.count()).select_from(LabelingTaskRow).where(*where)) or 0
    rows = list(
        session.scalars(
            select(LabelingTaskRow)
            .where(*where)
            .order_by(LabelingTaskRow.id)
            .offset(offset)
            .limit(limit)
        )
    )
    answers = _annotations(session, [row.id for row in rows])
    return [Task.of(row, answers[row.id]) for row in rows], int(total)
