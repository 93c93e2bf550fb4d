"""Labeling projects and their tasks as records: plain functions taking a Session first.

Tasks are inserted in batches (one statement per thousand), each with a
JSON snapshot of the fields the schema shows, so a task reads the same
whatever later happens to its dataset. An item already in the project
(same ``item_key``) is not added twice: adding the same rows again is a
no-op, and the count of new tasks says so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db._base import utcnow
from kiln.db.tables.labeling import LabelingProjectRow, LabelingTaskRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.labeling._entities import LabelingProject
from kiln.labeling._schema import LabelSchema
from kiln.tracking._names import check_name

__all__ = [
    "MAX_OVERLAP",
    "add_tasks",
    "check_project_name",
    "create_project",
    "delete_project",
    "get_project",
    "list_projects",
    "project_row",
]

NAME_LENGTH = 128
MAX_OVERLAP = 20
BATCH = 1000


def check_project_name(name: Any) -> str:
    check_name(name, what="labeling project name", field="name")
    if len(name) > NAME_LENGTH:
        raise InvalidInput(
            f"a labeling project name has up to {NAME_LENGTH} characters", field="name"
        )
    return str(name)


def _overlap(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_OVERLAP:
        raise InvalidInput(
            f"overlap is the number of annotators per task, 1 to {MAX_OVERLAP}; got {value!r}",
            field="overlap",
        )
    return value


def _webhooks(urls: Iterable[Any]) -> list[str]:
    """Well-formed http(s) URLs (where they point is checked at each delivery)."""
    from kiln.alerts._address_guard import check_url_form

    if isinstance(urls, str):
        raise InvalidInput("webhooks is a list of URLs", field="webhooks")
    checked = []
    for url in urls:
        check_url_form(url, field="webhooks")
        checked.append(str(url).strip())
    return checked


def project_row(session: Session, project: str, name: str) -> LabelingProjectRow:
    """The row of labeling project ``name``, or ``NotFound`` saying how to list them."""
    row = session.scalar(
        select(LabelingProjectRow).where(
            LabelingProjectRow.project_id == project_id(session, project),
            LabelingProjectRow.name == name,
        )
    )
    if row is None:
        raise NotFound(
            f"no labeling project {name!r} in project {project!r}; `kiln labeling list` shows them"
        )
    return row


def _counts(session: Session, row_id: int) -> dict[str, int]:
    rows = session.execute(
        select(LabelingTaskRow.status, func.count())
        .where(LabelingTaskRow.labeling_project_id == row_id)
        .group_by(LabelingTaskRow.status)
    )
    counts = Counter({str(status): int(n) for status, n in rows})
    review = session.scalar(
        select(func.count()).where(
            LabelingTaskRow.labeling_project_id == row_id, LabelingTaskRow.needs_review
        )
    )
    return {"tasks": sum(counts.values()), **counts, "needs_review": int(review or 0)}


def create_project(
    session: Session,
    project: str,
    name: str,
    schema: Mapping[str, Any] | LabelSchema,
    *,
    overlap: int = 1,
    description: str = "",
    source: str = "",
    webhooks: Iterable[str] = (),
    user: str = "",
) -> LabelingProject:
    """A new labeling project; ``AlreadyExists`` when the name is taken."""
    name = check_project_name(name)
    checked = LabelSchema.parse(schema)
    owner = project_id(session, project)
    taken = session.scalar(
        select(LabelingProjectRow.id).where(
            LabelingProjectRow.project_id == owner, LabelingProjectRow.name == name
        )
    )
    if taken is not None:
        raise AlreadyExists(f"labeling project {name!r} exists in project {project!r}")
    row = LabelingProjectRow(
        project_id=owner,
        name=name,
        description=description,
        task_type=checked.task_type,
        data_kind=checked.data_kind,
        label_schema=checked.to_json(),
        source=source,
        overlap=_overlap(overlap),
        webhooks=json.dumps(_webhooks(webhooks)),
        created_at=utcnow(),
        created_by=user,
    )
    session.add(row)
    session.flush()
    return LabelingProject.of(row, project)


def get_project(session: Session, project: str, name: str) -> LabelingProject:
    row = project_row(session, project, name)
    return LabelingProject.of(row, project, _counts(session, row.id))


def list_projects(session: Session, project: str) -> list[LabelingProject]:
    rows = session.scalars(
        select(LabelingProjectRow)
        .where(LabelingProjectRow.project_id == project_id(session, project))
        .order_by(LabelingProjectRow.name)
    )
    return [LabelingProject.of(row, project, _counts(session, row.id)) for row in rows]


def delete_project(session: Session, project: str, name: str) -> None:
    """Delete a labeling project with its tasks and annotations (exports stay)."""
    session.delete(project_row(session, project, name))


def add_tasks(
    session: Session,
    project: str,
    name: str,
    items: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    origin: str = "dataset",
    gold: Mapping[str, Any] | None = None,
    priority: float = 0.0,
    predictions: Mapping[str, Mapping[str, Any]] | None = None,
    priorities: Mapping[str, float] | None = None,
) -> int:
    """Add ``(item_key, data)`` items as tasks; items already there are kept as they are.

    ``gold`` maps item keys to known answers (checked against the schema):
    those tasks measure annotators. ``predictions`` (pre-annotations, already
    checked) and ``priorities`` are per item key too. Returns how many tasks
    were added.
    """
    row = project_row(session, project, name)
    schema = LabelSchema.parse(json.loads(row.label_schema))
    known = set(
        session.scalars(
            select(LabelingTaskRow.item_key).where(LabelingTaskRow.labeling_project_id == row.id)
        )
    )
    now = utcnow()
    pending: list[dict[str, Any]] = []
    added = 0
    for key, data in items:
        key = str(key)
        if key in known:
            continue
        known.add(key)
        answer = None
        if gold is not None and key in gold:
            answer = json.dumps(schema.check(gold[key], data, what=f"gold answer of {key!r}"))
        pending.append(
            {
                "labeling_project_id": row.id,
                "item_key": key,
                "data": json.dumps(dict(data), default=str),
                "status": "open",
                "priority": (priorities or {}).get(key, priority),
                "origin": origin,
                "prediction": (
                    json.dumps(dict(predictions[key]))
                    if predictions is not None and key in predictions
                    else None
                ),
                "gold": answer,
                "needs_review": False,
                "created_at": now,
            }
        )
        if len(pending) >= BATCH:
            session.execute(insert(LabelingTaskRow), pending)
            added += len(pending)
            pending = []
    if pending:
        session.execute(insert(LabelingTaskRow), pending)
        added += len(pending)
    return added
