"""Tables of monitoring: reference profiles, monitors, their results per window, alert rules.

A reference profile's sketches are one JSON blob in the artifact store;
its row names the blob, versioned by name like a dataset. A monitor is a
spec (JSON) over a target (a deployment's prediction log, or a dataset's
versions) and a pinned profile version. Each evaluation of a window leaves
one ``monitor_results`` row holding the flat metrics alert rules read, and
the whole window's report as a blob; evaluating the same window again
replaces its row (late labels change the performance). Alert rules belong
to a monitor; the alerts they raise are ``alerts`` rows (kind ``monitor``),
and each delivery of an alert to a sink is an ``alert_deliveries`` row.
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


class ReferenceProfileRow(Base):
    """One version of a named reference profile: where its sketches are and what they cover."""

    __tablename__ = "reference_profiles"
    __table_args__ = (UniqueConstraint("project_id", "name", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    version: Mapped[int] = mapped_column(Integer)
    #: SHA-256 of the profile's JSON blob in the artifact store.
    digest: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    #: JSON list of the profiled column names.
    columns: Mapped[str] = mapped_column(Text)
    #: JSON: what the profile was computed from (a dataset version, a run, rows).
    source: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")


class MonitorRow(Base):
    """A monitor: what it watches (``target_kind``, ``target``) and how (``spec``, JSON)."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    #: ``deployment`` (its prediction log) or ``dataset`` (its newest version).
    target_kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(NAME_LENGTH))
    spec: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorResultRow(Base):
    """One evaluated window of a monitor: its flat metrics and the blob of its full report."""

    __tablename__ = "monitor_results"
    __table_args__ = (
        UniqueConstraint("monitor_id", "window_start", "window_end"),
        Index("ix_monitor_results_window", "monitor_id", "window_end"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    #: The window ``[start, end)``; a dataset monitor's window is the version's creation time.
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    rows: Mapped[int] = mapped_column(BigInteger)
    #: JSON object of metric name → number (``drift.share``, ``performance.f1``, …).
    metrics: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the window's report (JSON) in the artifact store.
    digest: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertRuleRow(Base):
    """A condition on one metric of a monitor, what to notify, and what to run when it fires."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("monitor_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    metric: Mapped[str] = mapped_column(String(256))
    #: ``>``, ``>=``, ``<`` or ``<=``.
    operator: Mapped[str] = mapped_column(String(2))
    threshold: Mapped[float] = mapped_column(Float)
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    #: JSON list of sink specs (``{"kind": "webhook", "url": …}``).
    sinks: Mapped[str] = mapped_column(Text, default="[]")
    #: A pipeline (``module:function``) to run when the rule fires, and its params (JSON).
    pipeline: Mapped[str | None] = mapped_column(String(1024), default=None)
    pipeline_params: Mapped[str] = mapped_column(Text, default="{}")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The end of the last window this rule fired on: a window fires a rule once.
    last_fired_window: Mapped[datetime | None] = mapped_column(default=None)


class AlertDeliveryRow(Base):
    """One attempt to deliver an alert to a sink, and what came of it."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (Index("ix_alert_deliveries_alert_id", "alert_id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigIntId, ForeignKey("alerts.id", ondelete="CASCADE"))
    sink: Mapped[str] = mapped_column(String(1024))
    #: ``DELIVERED`` or ``FAILED``.
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
