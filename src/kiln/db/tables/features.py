"""Tables of the feature store: versioned definitions of entities, feature views and services.

Every ``kiln features apply`` that changes a definition adds a version row
for it (``removed`` marks the version that records its removal); rows are
never updated, so the history of each definition stays readable. The
current definitions are each name's newest version, unless it is a removal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow


class FeatureDefinitionRow(Base):
    """One version of an entity, feature view or feature service of a project."""

    __tablename__ = "feature_definitions"
    __table_args__ = (
        UniqueConstraint("project_id", "kind", "name", "version"),
        Index("ix_feature_definitions_name", "project_id", "kind", "name"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    #: ``entity``, ``feature_view`` or ``feature_service``.
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    #: The canonical JSON of the definition (``to_dict``).
    spec: Mapped[str] = mapped_column(Text)
    #: SHA-256 of ``spec``: equal definitions, equal fingerprints.
    fingerprint: Mapped[str] = mapped_column(String(64))
    removed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")


class FeatureMaterializationRow(Base):
    """One materialization of a feature view into an online store: its window and outcome.

    The newest completed ``end`` per view and store is the watermark an
    incremental materialization starts from; ``statistics`` (JSON) describes
    the rows written, for the catalog.
    """

    __tablename__ = "feature_materializations"
    __table_args__ = (Index("ix_feature_materializations_view", "project_id", "view", "store"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    view: Mapped[str] = mapped_column(String(128))
    #: The definition version of the view that was materialized.
    view_version: Mapped[int] = mapped_column(Integer)
    #: The online store's URL, password masked.
    store: Mapped[str] = mapped_column(String(1024))
    #: The window: event times in (start, end]; no start means from the beginning.
    start: Mapped[datetime | None] = mapped_column(default=None)
    end: Mapped[datetime] = mapped_column()
    #: ``RUNNING``, ``COMPLETED`` or ``FAILED``.
    status: Mapped[str] = mapped_column(String(16), default="RUNNING")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    keys_written: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The newest event time among the rows written (the view's freshness).
    newest_event: Mapped[datetime | None] = mapped_column(default=None)
    statistics: Mapped[str] = mapped_column(Text, default="{}")
    error: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(256), default="")
