"""What the labeling adapters (REST API, CLI, web UI) need beyond the queue itself.

- ``create_with_items``: a project and its first tasks as one step — when
  the rows cannot be added (an unknown dataset, a missing column, a gold
  answer the schema refuses) the new project is removed again, so a failed
  ``POST /api/v1/labeling`` or ``kiln labeling create`` leaves nothing behind.
- ``task_view`` / ``project_view``: what a caller may see. Annotators label
  blind: on an open task they see only their own answer, never another
  annotator's, and no one but a reviewer sees a gold answer (annotators are
  measured on gold tasks). Webhook URLs often hold a secret, so only a
  reviewer sees them; others get their number.
- ``remaining_for``: how many open tasks an annotator still has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db.tables.labeling import AnnotationRow, LabelingTaskRow
from kiln.labeling._entities import LabelingProject, Task
from kiln.labeling._projects import project_row

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.labeling._schema import LabelSchema

__all__ = [
    "TASK_STATUSES",
    "create_with_items",
    "project_view",
    "remaining_for",
    "task_view",
]

#: A task's statuses in the order a task passes through them.
TASK_STATUSES = ("open", "complete", "reviewed")


def create_with_items(
    context: Context,
    project: str,
    name: str,
    schema: Mapping[str, Any] | LabelSchema,
    *,
    dataset: str | None = None,
    overlap: int = 1,
    description: str = "",
    webhooks: Iterable[str] = (),
    key_column: str | None = None,
    gold_column: str | None = None,
    limit: int | None = None,
    user: str = "",
) -> LabelingProject:
    """A new labeling project with the rows of ``dataset`` (``name@3``) as its tasks."""
    from kiln.labeling import _intake, _projects

    context.db.run(
        _projects.create_project,
        project,
        name,
        schema,
        overlap=overlap,
        description=description,
        source=dataset or "",
        webhooks=webhooks,
        user=user,
    )
    if dataset is not None:
        try:
            _intake.add_from_dataset(
                context,
                project,
                name,
                dataset,
                key_column=key_column,
                gold_column=gold_column,
                limit=limit,
            )
        except Exception:
            context.db.run(_projects.delete_project, project, name)
            raise
    found: LabelingProject = context.db.read(_projects.get_project, project, name)
    return found


def task_view(task: Task, *, viewer: str, reviewer: bool) -> dict[str, Any]:
    """``task`` as JSON for ``viewer``: blind while open, gold for reviewers only."""
    body = task.to_dict(with_gold=reviewer)
    if task.status == "open" and not reviewer:
        body["annotations"] = [a for a in body["annotations"] if a["annotator"] == viewer]
    return body


def project_view(found: LabelingProject, *, reviewer: bool) -> dict[str, Any]:
    """The project as JSON; its webhook URLs only for reviewers (``webhook_count`` for all)."""
    body = found.to_dict()
    body["webhook_count"] = len(found.webhooks)
    if not reviewer:
        body["webhooks"] = None
    return body


def remaining_for(session: Session, project: str, name: str, annotator: str) -> int:
    """Open tasks of the project that ``annotator`` has neither answered nor skipped."""
    owner = project_row(session, project, name)
    answered = select(AnnotationRow.task_id).where(AnnotationRow.annotator == annotator)
    found = session.scalar(
        select(func.count())
        .select_from(LabelingTaskRow)
        .where(
            LabelingTaskRow.labeling_project_id == owner.id,
            LabelingTaskRow.status == "open",
            LabelingTaskRow.id.not_in(answered),
        )
    )
    return int(found or 0)
