"""Tables of training: tuning studies and their trials, checkpoints, training jobs.

A study and its trials are the records of an Optuna study, kept in Kiln's
own tables (Optuna's own schema would clash with ours over
``alembic_version``): ids are integers because Optuna's storage interface
uses them, values and attributes are JSON, and each trial names the tracked
run it ran in and the process that owns it (host, pid, start time, last
heartbeat), so a trial whose process died can be found and retried.

A checkpoint is a blob in the artifact store named by one row per run and
step. A training job is one submitted piece of code: its entry point, the
resources asked for, where and how it runs, its status, the resources it
used, and its output in ordered chunks (readable from any machine that can
reach the database, while the job runs).
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


class TuningStudyRow(Base):
    """A hyperparameter study: its directions, attributes and how it is run (``settings``)."""

    __tablename__ = "tuning_studies"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: JSON list of "minimize" / "maximize", one per objective.
    directions: Mapped[str] = mapped_column(Text)
    user_attrs: Mapped[str] = mapped_column(Text, default="{}")
    system_attrs: Mapped[str] = mapped_column(Text, default="{}")
    #: JSON: sampler, pruner, search space, trial budget, retries, runner.
    settings: Mapped[str] = mapped_column(Text, default="{}")
    #: The tracked run whose children the trials are.
    parent_run_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")


class TuningTrialRow(Base):
    """One trial of a study: state, values, parameters, its run and its owning process."""

    __tablename__ = "tuning_trials"
    __table_args__ = (
        UniqueConstraint("study_id", "number"),
        Index("ix_tuning_trials_study_state", "study_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("tuning_studies.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    #: Optuna's TrialState name: RUNNING, WAITING, COMPLETE, PRUNED, FAIL.
    state: Mapped[str] = mapped_column(String(16))
    #: JSON list of floats (one per objective), or null.
    values: Mapped[str | None] = mapped_column(Text)
    #: JSON: parameter name -> internal (float) representation.
    params: Mapped[str] = mapped_column(Text, default="{}")
    #: JSON: parameter name -> Optuna's JSON form of its distribution.
    distributions: Mapped[str] = mapped_column(Text, default="{}")
    user_attrs: Mapped[str] = mapped_column(Text, default="{}")
    system_attrs: Mapped[str] = mapped_column(Text, default="{}")
    datetime_start: Mapped[datetime | None] = mapped_column()
    datetime_complete: Mapped[datetime | None] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(32))
    owner_host: Mapped[str] = mapped_column(String(256), default="")
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    #: The owning process's start time (seconds since the epoch), so a reused pid is not it.
    owner_started: Mapped[float | None] = mapped_column(Float)
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    #: Number of the trial that re-runs this one after its process died; such a
    #: trial does not count against the study's budget.
    retried_by: Mapped[int | None] = mapped_column(Integer)
    failure: Mapped[str | None] = mapped_column(Text)


class TuningIntermediateValueRow(Base):
    """A value a trial reported at a step (``trial.report``); NaN is stored as null."""

    __tablename__ = "tuning_intermediate_values"

    trial_id: Mapped[int] = mapped_column(
        ForeignKey("tuning_trials.id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    value: Mapped[float | None] = mapped_column(Float)


class CheckpointRow(Base):
    """One checkpoint of a run at a step: the blob it is, how to read it, its score."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("run_id", "step"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    #: SHA-256 of the checkpoint's bytes in the artifact store.
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: How the object was written (the materializer's name), so it can be read back.
    format: Mapped[str] = mapped_column(String(64))
    #: The score the checkpoint was saved with (for keeping the best N), or null.
    metric: Mapped[float | None] = mapped_column(Float)
    #: Whether a lower ("min") or higher ("max") metric is better; null without a metric.
    mode: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingJobRow(Base):
    """A submitted training job: what runs, where, with what, and what it used."""

    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_project_created", "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    #: A script path or ``module:function``.
    entry: Mapped[str] = mapped_column(Text)
    #: JSON list of the arguments given to the entry point.
    args: Mapped[str] = mapped_column(Text, default="[]")
    working_dir: Mapped[str] = mapped_column(Text, default="")
    runner: Mapped[str] = mapped_column(String(16))
    #: JSON: cpu, gpu, memory asked for.
    resources: Mapped[str] = mapped_column(Text, default="{}")
    timeout: Mapped[float | None] = mapped_column(Float)
    isolated: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The pinned requirements of an isolated job, one per line.
    requirements: Mapped[str | None] = mapped_column(Text)
    #: queued, running, succeeded, failed, cancelled, timed_out.
    status: Mapped[str] = mapped_column(String(16), index=True)
    run_id: Mapped[str | None] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(256), default="")
    supervisor_pid: Mapped[int | None] = mapped_column(Integer)
    #: The supervisor's start time (seconds since the epoch), so a reused pid is not it.
    supervisor_started: Mapped[float | None] = mapped_column(Float)
    pid: Mapped[int | None] = mapped_column(Integer)
    #: The job process's start time (seconds since the epoch), for the same reason.
    process_started: Mapped[float | None] = mapped_column(Float)
    #: Refreshed by the running job's executor; a stale one on another host means it died.
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    #: The key (sha256 of the pins) of the isolated environment the job ran in.
    environment: Mapped[str | None] = mapped_column(String(64))
    exit_code: Mapped[int | None] = mapped_column(Integer)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    gpu_seconds: Mapped[float | None] = mapped_column(Float)
    failure: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class TrainingJobLogRow(Base):
    """A chunk of a job's output (stdout and stderr interleaved), in order."""

    __tablename__ = "training_job_logs"

    job_id: Mapped[int] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
