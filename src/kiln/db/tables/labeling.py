"""Tables of labeling: projects over dataset versions, their tasks, and annotations.

A labeling project names the dataset version its rows come from, the kind
of task (classification, multi-label, named-entity spans) and its label
schema (JSON), and how many annotators each task needs. A task is one item
to label: the row's fields as they are shown (a JSON snapshot, so a task
reads the same whatever happens to the dataset), its priority in the queue,
an optional model pre-annotation, an optional gold answer, and — once
enough annotators answered — the consensus and its agreement. Each
annotator's answer (or skip) is one annotation; a reviewer's decision is
kept on the task.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow

NAME_LENGTH = 128


class LabelingProjectRow(Base):
    """A labeling project: where its items come from, what is asked, how many answers."""

    __tablename__ = "labeling_projects"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    #: ``classification``, ``multilabel`` or ``ner``.
    task_type: Mapped[str] = mapped_column(String(16))
    #: ``tabular``, ``text`` or ``image``.
    data_kind: Mapped[str] = mapped_column(String(16))
    #: JSON: labels, the column(s) shown, instructions.
    label_schema: Mapped[str] = mapped_column(Text)
    #: The dataset version the tasks were made from (``name@version``), or empty.
    source: Mapped[str] = mapped_column(String(256), default="")
    #: Annotators each task needs before it has a consensus.
    overlap: Mapped[int] = mapped_column(Integer, default=1)
    #: JSON list of webhook URLs told when a task is complete.
    webhooks: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")


class LabelingTaskRow(Base):
    """One item to label, its place in the queue, and what is known of its label."""

    __tablename__ = "labeling_tasks"
    __table_args__ = (
        Index("ix_labeling_tasks_queue", "labeling_project_id", "status", "priority"),
        UniqueConstraint("labeling_project_id", "item_key"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    labeling_project_id: Mapped[int] = mapped_column(
        ForeignKey("labeling_projects.id", ondelete="CASCADE")
    )
    #: Where the item is from: its row number in the source version, a request id, …
    item_key: Mapped[str] = mapped_column(String(256))
    #: JSON: the item's fields as shown to annotators.
    data: Mapped[str] = mapped_column(Text)
    #: ``open``, ``complete`` (enough answers), ``reviewed``.
    status: Mapped[str] = mapped_column(String(16), default="open")
    #: Higher is asked first (active learning sets it); ties go to the oldest task.
    priority: Mapped[float] = mapped_column(Float, default=0.0)
    #: ``dataset``, ``serving``, ``import``.
    origin: Mapped[str] = mapped_column(String(16), default="dataset")
    #: JSON: a model's pre-annotation (label, score, the model), or null.
    prediction: Mapped[str | None] = mapped_column(Text)
    #: JSON: the known answer of a gold task, or null.
    gold: Mapped[str | None] = mapped_column(Text)
    #: JSON: the consensus label once the task is complete, or null.
    consensus: Mapped[str | None] = mapped_column(Text)
    agreement: Mapped[float | None] = mapped_column(Float)
    #: Why the task is waiting for a reviewer (a disagreement, a likely label error), or null.
    review_reason: Mapped[str | None] = mapped_column(Text)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()


class AnnotationRow(Base):
    """One annotator's answer to a task (or a skip), with a comment and the time it took."""

    __tablename__ = "annotations"
    __table_args__ = (UniqueConstraint("task_id", "annotator"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"),
        ForeignKey("labeling_tasks.id", ondelete="CASCADE"),
        index=True,
    )
    annotator: Mapped[str] = mapped_column(String(256))
    #: JSON: the label (a class, a list of classes, a list of spans), or null for a skip.
    label: Mapped[str | None] = mapped_column(Text)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LabelingWatchRow(Base):
    """A deployment a labeling project watches: its unsure answers become tasks when logged."""

    __tablename__ = "labeling_watches"
    __table_args__ = (UniqueConstraint("labeling_project_id", "deployment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    labeling_project_id: Mapped[int] = mapped_column(
        ForeignKey("labeling_projects.id", ondelete="CASCADE")
    )
    deployment: Mapped[str] = mapped_column(String(128))
    #: A logged row whose confidence is below this becomes a task.
    threshold: Mapped[float] = mapped_column(Float)
    #: The logged output holding the confidence, or null: the answering model's predict_proba.
    score_output: Mapped[str | None] = mapped_column(String(128))
    #: The logged output holding the answer, shown as the pre-annotation.
    prediction_output: Mapped[str] = mapped_column(String(128), default="predictions")
    #: Tasks this watch has added so far, and when it last added any.
    added: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=0)
    last_added_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")
