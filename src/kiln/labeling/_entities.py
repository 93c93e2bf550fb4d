"""What the labeling services hand back: projects, tasks and annotations as plain data."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiln.labeling._schema import LabelSchema

if TYPE_CHECKING:
    from kiln.db.tables.labeling import AnnotationRow, LabelingProjectRow, LabelingTaskRow

__all__ = ["Annotation", "LabelingProject", "Task"]


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


@dataclass(frozen=True)
class LabelingProject:
    """A labeling project: its schema, where its items came from, answers needed per task."""

    name: str
    project: str
    description: str
    schema: LabelSchema
    source: str
    overlap: int
    webhooks: list[str]
    created_at: datetime
    created_by: str
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(
        cls, row: LabelingProjectRow, project: str, counts: dict[str, int] | None = None
    ) -> LabelingProject:
        return cls(
            name=row.name,
            project=project,
            description=row.description,
            schema=LabelSchema.parse(json.loads(row.label_schema)),
            source=row.source,
            overlap=row.overlap,
            webhooks=json.loads(row.webhooks),
            created_at=row.created_at,
            created_by=row.created_by,
            counts=dict(counts or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "project": self.project,
            "description": self.description,
            "schema": self.schema.to_dict(),
            "source": self.source,
            "overlap": self.overlap,
            "webhooks": self.webhooks,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "counts": self.counts,
        }


@dataclass(frozen=True)
class Annotation:
    """One annotator's answer to a task (``label`` is None for a skip)."""

    task_id: int
    annotator: str
    label: Any
    skipped: bool
    comment: str
    seconds: float | None
    created_at: datetime

    @classmethod
    def of(cls, row: AnnotationRow) -> Annotation:
        return cls(
            task_id=row.task_id,
            annotator=row.annotator,
            label=_loads(row.label),
            skipped=row.skipped,
            comment=row.comment,
            seconds=row.seconds,
            created_at=row.created_at,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "annotator": self.annotator,
            "label": self.label,
            "skipped": self.skipped,
            "comment": self.comment,
            "seconds": self.seconds,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Task:
    """One item to label: what is shown, its queue place, and what is known of its label."""

    id: int
    item_key: str
    data: dict[str, Any]
    status: str
    priority: float
    origin: str
    prediction: dict[str, Any] | None
    gold: Any
    consensus: Any
    agreement: float | None
    needs_review: bool
    review_reason: str | None
    reviewed_by: str | None
    created_at: datetime
    completed_at: datetime | None
    annotations: list[Annotation] = field(default_factory=list)

    @classmethod
    def of(cls, row: LabelingTaskRow, annotations: list[Annotation] | None = None) -> Task:
        return cls(
            id=row.id,
            item_key=row.item_key,
            data=json.loads(row.data),
            status=row.status,
            priority=row.priority,
            origin=row.origin,
            prediction=_loads(row.prediction),
            gold=_loads(row.gold),
            consensus=_loads(row.consensus),
            agreement=row.agreement,
            needs_review=row.needs_review,
            review_reason=row.review_reason,
            reviewed_by=row.reviewed_by,
            created_at=row.created_at,
            completed_at=row.completed_at,
            annotations=list(annotations or []),
        )

    @property
    def is_gold(self) -> bool:
        return self.gold is not None

    def to_dict(self, *, with_gold: bool = False) -> dict[str, Any]:
        """The task as JSON; a gold answer is left out unless asked for (annotators see none)."""
        return {
            "id": self.id,
            "item_key": self.item_key,
            "data": self.data,
            "status": self.status,
            "priority": self.priority,
            "origin": self.origin,
            "prediction": self.prediction,
            "gold": self.gold if with_gold else None,
            "is_gold": self.is_gold if with_gold else None,
            "consensus": self.consensus,
            "agreement": self.agreement,
            "needs_review": self.needs_review,
            "review_reason": self.review_reason,
            "reviewed_by": self.reviewed_by,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "annotations": [a.to_dict() for a in self.annotations],
        }
