"""Tables of the feature store: versioned definitions of entities, feature views and services.

Every ``kiln features apply`` that changes a definition adds a version row
for it (``removed`` marks the version that records its removal); rows are
never updated, so the history of each definition stays readable. The
current definitions are each name's newest version, unless it is a removal.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
