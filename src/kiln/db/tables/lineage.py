"""Tables of lineage: edges between nodes, stale flags, and alerts.

A **node** is any record another record was made from: ``(kind, id)`` with
kind one of ``dataset_version`` (id: the version id), ``artifact`` (a blob
digest), ``step_run`` (``<pipeline run id>/<invocation>``), ``pipeline_run``,
``run`` (a tracking run) and ``model_version`` (``<model name>/<version>``).
An edge ``source → target`` says the target was made from the source
(``relation`` says how: ``input``, ``output``, ``trained``, ``registered``).
Edges are never updated, only added (duplicates are refused by the unique
constraint and ignored by the writers).

``lineage_stale`` flags a node (a model version) made from something that
has since been superseded: a dataset that got a newer version, a model that
was retrained. ``alerts`` are the records a quality gate (and later the
monitors) raise: what failed, with its evidence, until someone accepts or
resolves them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow

KIND_LENGTH = 32
NODE_ID_LENGTH = 512


class LineageEdgeRow(Base):
    """``source`` was used to make ``target``."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "source_kind", "source_id", "target_kind", "target_id", "relation"
        ),
        Index("ix_lineage_edges_target", "project_id", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    source_kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    source_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH))
    target_kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    target_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH))
    relation: Mapped[str] = mapped_column(String(KIND_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StaleFlagRow(Base):
    """``node`` is stale because ``cause`` (upstream of it) was superseded."""

    __tablename__ = "lineage_stale"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    node_kind: Mapped[str] = mapped_column(String(KIND_LENGTH), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH), primary_key=True)
    cause_kind: Mapped[str] = mapped_column(String(KIND_LENGTH), primary_key=True)
    cause_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH), primary_key=True)
    #: What superseded the cause, in words ("dataset transactions has version 4").
    reason: Mapped[str] = mapped_column(Text)
    #: The node that superseded the cause (the new dataset version or model version).
    superseded_by_kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    superseded_by_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH))
    flagged_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRow(Base):
    """Something that needs a person: a failed quality gate, later a monitor's finding."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_project_id_status", "project_id", "status"),
        Index("ix_alerts_subject", "project_id", "subject_kind", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    #: What raised it: ``data_validation`` (a pipeline gate), …
    kind: Mapped[str] = mapped_column(String(64))
    #: ``warning`` or ``critical``.
    severity: Mapped[str] = mapped_column(String(16))
    #: OPEN, ACCEPTED (the evidence was looked at and the run let through), RESOLVED.
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    #: The node the alert is about (``step_run`` ``<run id>/<invocation>`` for a gate).
    subject_kind: Mapped[str] = mapped_column(String(KIND_LENGTH))
    subject_id: Mapped[str] = mapped_column(String(NODE_ID_LENGTH))
    #: JSON: the failed checks and their evidence.
    details: Mapped[str] = mapped_column(Text, default="{}")
    #: Blob of a readable report (the validation report's HTML page).
    report_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(256))
    resolution: Mapped[str | None] = mapped_column(Text)
