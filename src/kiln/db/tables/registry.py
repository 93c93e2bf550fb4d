"""Tables of the model registry: registered models, versions, tags, aliases, events, gates.

Version numbers come from ``registered_models.last_version``, bumped by one
``UPDATE … RETURNING`` per new version: the update locks the model's row, so
concurrent registrations get consecutive numbers, and a deleted version's
number is never handed out again. ``alias_events`` is the history of every
alias move (versions are kept as numbers, so the history outlives deleted
versions); ``alias_gates`` holds the checks an alias requires, as JSON.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow

NAME_LENGTH = 256
KEY_LENGTH = 250
ALIAS_LENGTH = 255


class RegisteredModelRow(Base):
    __tablename__ = "registered_models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The highest version number ever given out (0: none yet).
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RegisteredModelTagRow(Base):
    __tablename__ = "registered_model_tags"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelVersionRow(Base):
    """One version of a registered model: where its files are and the manifest's digest."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    #: SHA-256 of the version's ``kiln-model.yaml`` ("" for a source in another format).
    manifest_sha256: Mapped[str] = mapped_column(String(64), default="")
    flavor: Mapped[str] = mapped_column(String(64), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(32), default="READY")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")


class ModelVersionTagRow(Base):
    __tablename__ = "model_version_tags"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ModelAliasRow(Base):
    """Which version an alias of a model points at now."""

    __tablename__ = "model_aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), index=True
    )


class AliasEventRow(Base):
    """One move of an alias: who, when, from which version to which, and the gate's results."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_model_id_alias", "model_id", "alias", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("registered_models.id", ondelete="CASCADE"))
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH))
    from_version: Mapped[int | None] = mapped_column(Integer)
    to_version: Mapped[int | None] = mapped_column(Integer)
    #: ``set``, ``delete`` or ``rollback``.
    action: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)
    #: JSON list of check results (name, type, passed, observed, detail, evaluated_by).
    gate_results: Mapped[str] = mapped_column(Text, default="[]")
    #: Whether failed checks were overridden (``force=True``, project admins only).
    forced: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")


class AliasGateRow(Base):
    """The named checks an alias requires before it may move to a version."""

    __tablename__ = "alias_gates"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(ALIAS_LENGTH), primary_key=True)
    #: JSON list of checks (see docs/registry.md for each type's fields).
    checks: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
