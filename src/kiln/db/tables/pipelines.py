"""Tables of pipelines: pipeline runs, their step runs, and the step cache.

A pipeline run has one ``step_runs`` row per step invocation (a step called
three times, or mapped over three items, has three rows), created PENDING
when the run starts so the whole plan is visible at once. ``step_cache``
maps a cache key (see ``kiln.pipelines._cache``) to the outputs a step
produced, per project; the outputs are artifact digests, so an entry is only
a hit while its blobs are still in the artifact store. JSON columns
(``params``, ``upstream``, ``inputs``, ``outputs``, ``resources``) hold small
documents that are read whole and never searched by SQL.
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

NAME_LENGTH = 256


class PipelineRunRow(Base):
    __tablename__ = "pipeline_runs"
    __table_args__ = (
        Index("ix_pipeline_runs_project_id_start_time", "project_id", "start_time"),
        Index("ix_pipeline_runs_project_id_pipeline", "project_id", "pipeline"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    pipeline: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: RUNNING, SUCCEEDED, FAILED, PAUSED (a quality gate is waiting for a person).
    status: Mapped[str] = mapped_column(String(16), index=True)
    runner: Mapped[str] = mapped_column(String(64))
    #: The pipeline's resolved parameters, as JSON.
    params: Mapped[str] = mapped_column(Text, default="{}")
    no_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    end_time: Mapped[datetime | None]
    #: ``module:qualname`` of the pipeline, to rebuild it for a resume ("" if not importable).
    target: Mapped[str] = mapped_column(String(1024), default="")
    #: The folder the target is importable from (the caller's working directory).
    workdir: Mapped[str] = mapped_column(Text, default="")
    #: How many times the run was resumed.
    resumes: Mapped[int] = mapped_column(Integer, default=0)


class StepRunRow(Base):
    """One invocation of a step in a pipeline run, from PENDING to its end."""

    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("run_id", "invocation"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("pipeline_runs.id", ondelete="CASCADE"))
    #: Unique in the run: ``clean``, ``clean#2`` (second call), ``clean[3]`` (fourth map item).
    invocation: Mapped[str] = mapped_column(String(NAME_LENGTH))
    step: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: Order of the call in the pipeline function.
    position: Mapped[int] = mapped_column(Integer)
    #: PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED (an upstream step failed), PAUSED (a gate).
    status: Mapped[str] = mapped_column(String(16))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    cache_key: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text, default="{}")
    upstream: Mapped[str] = mapped_column(Text, default="[]")
    inputs: Mapped[str] = mapped_column(Text, default="{}")
    outputs: Mapped[str] = mapped_column(Text, default="[]")
    resources: Mapped[str] = mapped_column(Text, default="{}")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    start_time: Mapped[datetime | None]
    end_time: Mapped[datetime | None]
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    #: Captured output, cut to its last characters when long (the whole log is then a blob).
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    stdout_digest: Mapped[str | None] = mapped_column(String(64))
    stderr_digest: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)


class StepCacheRow(Base):
    """A cache key's outputs (artifact digests), shared by every run of the project."""

    __tablename__ = "step_cache"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(NAME_LENGTH))
    outputs: Mapped[str] = mapped_column(Text)
    #: The step run that produced the outputs (NULL once that run is deleted).
    step_run_id: Mapped[int | None] = mapped_column(
        BigIntId, ForeignKey("step_runs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PipelineScheduleRow(Base):
    """A cron schedule of a pipeline, executed by ``kiln scheduler``."""

    __tablename__ = "pipeline_schedules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: ``module:function`` naming the pipeline, importable from ``workdir``.
    target: Mapped[str] = mapped_column(String(1024))
    workdir: Mapped[str] = mapped_column(Text, default="")
    #: A five-field cron expression, read in ``timezone``.
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    params: Mapped[str] = mapped_column(Text, default="{}")
    runner: Mapped[str] = mapped_column(String(64), default="sequential")
    #: What to do with fire times missed while no scheduler ran: skip, latest or all.
    catch_up: Mapped[str] = mapped_column(String(16), default="latest")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The next fire time not yet claimed (UTC).
    next_fire_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")


class ScheduleFiringRow(Base):
    """One fire time of a schedule, claimed by one scheduler: the lease row.

    ``(schedule_id, fire_time)`` is unique, so of two schedulers that try to
    claim the same fire time, exactly one inserts the row and starts the run.
    """

    __tablename__ = "schedule_firings"
    __table_args__ = (UniqueConstraint("schedule_id", "fire_time"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(
        BigIntId, ForeignKey("pipeline_schedules.id", ondelete="CASCADE")
    )
    fire_time: Mapped[datetime]
    #: Which scheduler claimed it (``host:pid:uuid``) and when.
    claimed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: CLAIMED, STARTED, SUCCEEDED, FAILED, PAUSED, MISSED (skipped by the catch-up policy).
    status: Mapped[str] = mapped_column(String(16))
    pipeline_run_id: Mapped[str | None] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="SET NULL"), index=True
    )
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None]
