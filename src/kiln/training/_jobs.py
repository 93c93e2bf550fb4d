"""Training jobs as records: the ``Job`` entity, its status, and the services over its rows.

::

    create_job            a queued row and its tracked run (one transaction)
    get_job, list_jobs    the read side (CLI, REST, UI)
    request_cancel        sets cancel_requested; the executor polls it and ends the tree

The output is read in ``_job_logs.py``; what the executor writes while a
job runs (start, log chunks, heartbeat, the end) is in ``_job_records.py``.
All functions take a ``Session`` first and return frozen dataclasses, never rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db.tables import ProjectRow, TrainingJobRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.pipelines._resources import Resources
from kiln.tracking._entities import RunStatus
from kiln.tracking._experiments import ensure_experiment
from kiln.tracking._runs import create_run

__all__ = [
    "Job",
    "JobSpec",
    "JobStatus",
    "create_job",
    "get_job",
    "list_jobs",
    "request_cancel",
]

MAX_LIST = 1000


class JobStatus(StrEnum):
    """Where a job is: waiting for its supervisor, running, or ended one of four ways."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)

    @property
    def run_status(self) -> RunStatus:
        """The status its tracked run ends with."""
        if self is JobStatus.SUCCEEDED:
            return RunStatus.FINISHED
        if self is JobStatus.CANCELLED:
            return RunStatus.KILLED
        return RunStatus.FAILED if self.is_finished else RunStatus.RUNNING


#: The statuses of a job that has not ended.
ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What to run, checked (``_job_spec.check_spec`` builds it): the inputs of ``create_job``."""

    name: str
    entry: str
    args: tuple[str, ...] = ()
    working_dir: str = ""
    runner: str = "local"
    resources: Resources = field(default_factory=Resources)
    timeout: float | None = None
    isolated: bool = False
    #: Normalized pins of an isolated job, one per line.
    requirements: str | None = None
    experiment: str = "jobs"


@dataclass(frozen=True, slots=True)
class Job:
    """A submitted training job: what it runs, where, its status and what it used.

    ``cpu_seconds``, ``peak_memory_bytes`` and ``gpu_seconds`` cover the job
    process and every process it started; ``gpu_seconds`` is None where no
    GPU could be queried.
    """

    id: int
    project: str
    name: str
    entry: str
    args: tuple[str, ...]
    working_dir: str
    runner: str
    resources: Resources
    timeout: float | None
    isolated: bool
    requirements: str | None
    environment: str | None
    status: JobStatus
    run_id: str | None
    host: str
    supervisor_pid: int | None
    supervisor_started: float | None
    pid: int | None
    process_started: float | None
    exit_code: int | None
    cancel_requested: bool
    cpu_seconds: float | None
    peak_memory_bytes: int | None
    gpu_seconds: float | None
    failure: str | None
    created_at: datetime
    created_by: str
    started_at: datetime | None
    ended_at: datetime | None
    heartbeat_at: datetime | None

    @property
    def is_finished(self) -> bool:
        return self.status.is_finished

    @property
    def wall_seconds(self) -> float | None:
        """Seconds from the job's start to its end (or to now while it runs)."""
        if self.started_at is None:
            return None
        from kiln.db import utcnow

        end = self.ended_at or utcnow()
        return max(0.0, (end - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the REST API and ``--json`` print."""
        return {
            "id": self.id,
            "project": self.project,
            "name": self.name,
            "entry": self.entry,
            "args": list(self.args),
            "working_dir": self.working_dir,
            "runner": self.runner,
            "resources": self.resources.to_json(),
            "timeout": self.timeout,
            "isolated": self.isolated,
            "requirements": self.requirements,
            "environment": self.environment,
            "status": self.status.value,
            "run_id": self.run_id,
            "host": self.host,
            "supervisor_pid": self.supervisor_pid,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "cancel_requested": self.cancel_requested,
            "cpu_seconds": self.cpu_seconds,
            "peak_memory_bytes": self.peak_memory_bytes,
            "gpu_seconds": self.gpu_seconds,
            "wall_seconds": self.wall_seconds,
            "failure": self.failure,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def job_entity(row: TrainingJobRow, project: str) -> Job:
    resources = json.loads(row.resources or "{}")
    return Job(
        id=row.id,
        project=project,
        name=row.name,
        entry=row.entry,
        args=tuple(json.loads(row.args or "[]")),
        working_dir=row.working_dir,
        runner=row.runner,
        resources=Resources(
            cpu=float(resources.get("cpu", 1.0)),
            gpu=float(resources.get("gpu", 0.0)),
            memory=resources.get("memory"),
        ),
        timeout=row.timeout,
        isolated=row.isolated,
        requirements=row.requirements,
        environment=row.environment,
        status=JobStatus(row.status),
        run_id=row.run_id,
        host=row.host,
        supervisor_pid=row.supervisor_pid,
        supervisor_started=row.supervisor_started,
        pid=row.pid,
        process_started=row.process_started,
        exit_code=row.exit_code,
        cancel_requested=row.cancel_requested,
        cpu_seconds=row.cpu_seconds,
        peak_memory_bytes=row.peak_memory_bytes,
        gpu_seconds=row.gpu_seconds,
        failure=row.failure,
        created_at=row.created_at,
        created_by=row.created_by,
        started_at=row.started_at,
        ended_at=row.ended_at,
        heartbeat_at=row.heartbeat_at,
    )


def check_job_id(job_id: object) -> int:
    """``job_id`` as an int (the CLI and the API pass text), or ``InvalidInput``."""
    if isinstance(job_id, bool):
        raise InvalidInput(f"job id {job_id!r} is not a number", field="job_id")
    try:
        value = int(str(job_id))
    except (TypeError, ValueError):
        raise InvalidInput(f"job id {job_id!r} is not a number", field="job_id") from None
    if value < 1:
        raise InvalidInput(f"job id {job_id!r} is not a job id (they start at 1)", field="job_id")
    return value


def job_row(session: Session, project: str, job_id: int | str) -> TrainingJobRow:
    """The row of job ``job_id`` in ``project``, or ``NotFound``."""
    wanted = check_job_id(job_id)
    row = session.scalar(
        select(TrainingJobRow)
        .join(ProjectRow, ProjectRow.id == TrainingJobRow.project_id)
        .where(TrainingJobRow.id == wanted, ProjectRow.name == project)
    )
    if row is None:
        raise NotFound(
            f"job {wanted} does not exist in project {project!r}; `kiln jobs list` shows its jobs"
        )
    return row


def create_job(session: Session, project: str, spec: JobSpec, *, user: str = "") -> Job:
    """A queued job and its tracked run (SCHEDULED, named like the job, in ``spec.experiment``).

    The run's tags name the job, so a run page can point back to it.
    """
    owner = project_id(session, project)
    experiment = ensure_experiment(session, project, spec.experiment)
    row = TrainingJobRow(
        project_id=owner,
        name=spec.name,
        entry=spec.entry,
        args=json.dumps(list(spec.args)),
        working_dir=spec.working_dir,
        runner=spec.runner,
        resources=json.dumps(spec.resources.to_json(), sort_keys=True),
        timeout=spec.timeout,
        isolated=spec.isolated,
        requirements=spec.requirements,
        status=JobStatus.QUEUED.value,
        cancel_requested=False,
        created_by=user,
    )
    session.add(row)
    session.flush()
    run = create_run(
        session,
        project,
        experiment.id,
        name=spec.name,
        user=user,
        status=RunStatus.SCHEDULED,
        tags={
            "kiln.job.id": str(row.id),
            "kiln.job.entry": spec.entry,
            "kiln.job.runner": spec.runner,
            "kiln.source.name": spec.entry,
            "kiln.source.type": "JOB",
        },
    )
    row.run_id = run.id
    session.flush()
    return job_entity(row, project)


def get_job(session: Session, project: str, job_id: int | str) -> Job:
    return job_entity(job_row(session, project, job_id), project)


def list_jobs(
    session: Session,
    project: str,
    *,
    status: JobStatus | str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Job]:
    """The project's jobs, newest first."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be 1 to {MAX_LIST}, got {limit!r}", field="limit")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"offset must be zero or more, got {offset!r}", field="offset")
    query = (
        select(TrainingJobRow)
        .join(ProjectRow, ProjectRow.id == TrainingJobRow.project_id)
        .where(ProjectRow.name == project)
    )
    if status is not None:
        query = query.where(TrainingJobRow.status == _status(status).value)
    rows = session.scalars(
        query.order_by(TrainingJobRow.id.desc()).limit(limit).offset(offset)
    ).all()
    return [job_entity(row, project) for row in rows]


def active_jobs(session: Session, project: str | None = None) -> list[Job]:
    """Jobs queued or running (of one project, or of all): the ones a dead supervisor leaves."""
    query = select(TrainingJobRow, ProjectRow.name).join(
        ProjectRow, ProjectRow.id == TrainingJobRow.project_id
    )
    query = query.where(TrainingJobRow.status.in_(ACTIVE))
    if project is not None:
        query = query.where(ProjectRow.name == project)
    return [job_entity(row, name) for row, name in session.execute(query).all()]


def _status(value: JobStatus | str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in JobStatus)
        raise InvalidInput(f"status {value!r} is not one of {allowed}", field="status") from None


def request_cancel(session: Session, project: str, job_id: int | str) -> Job:
    """Ask the job's executor to end its process tree; ``Conflict`` once the job has ended."""
    row = job_row(session, project, job_id)
    status = JobStatus(row.status)
    if status.is_finished:
        raise Conflict(
            f"job {row.id} has already ended ({status.value}); there is nothing to cancel"
        )
    row.cancel_requested = True
    session.flush()
    return job_entity(row, project)
