"""What a job's supervisor and executor write while it runs, and its end.

::

    claim_job        the supervisor's host, pid and start time (so a dead one can be told)
    mark_running     the job process started: its pid; the run RUNNING
    append_output    one chunk of output (and the heartbeat); answers "cancel requested?"
    finish_job       status, exit code, usage; the run ended with job.* metrics, the
                     whole output as logs/output.log, the packages as
                     environment/requirements.txt
    mark_dead        a queued or running job whose supervisor died: failed, once

Each is one transaction. ``finish_job`` and ``mark_dead`` only end a job
that has not ended, so two of them never both count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import TrainingJobLogRow, TrainingJobRow
from kiln.errors import KilnError, NotFound
from kiln.tracking._artifacts import record_artifacts
from kiln.tracking._entities import Metric, RunArtifact, RunStatus
from kiln.tracking._runs import finish_run, now_ms, update_run
from kiln.training._jobs import ACTIVE, Job, JobStatus, job_entity

__all__ = [
    "LOG_ARTIFACT",
    "Outcome",
    "append_output",
    "claim_job",
    "finish_job",
    "full_output",
    "mark_dead",
    "mark_running",
]

#: Where a job's whole output lands among its run's artifacts.
LOG_ARTIFACT = "logs/output.log"
#: The job's packages (an isolated job's pins), as tracking captures them for a run.
REQUIREMENTS_ARTIFACT = "environment/requirements.txt"


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a job ended and what it used."""

    status: JobStatus
    exit_code: int | None = None
    cpu_seconds: float | None = None
    peak_memory_bytes: int | None = None
    gpu_seconds: float | None = None
    wall_seconds: float | None = None
    failure: str | None = None


def _row(session: Session, job_id: int) -> tuple[TrainingJobRow, str]:
    from kiln.db.tables import ProjectRow

    found = session.execute(
        select(TrainingJobRow, ProjectRow.name)
        .join(ProjectRow, ProjectRow.id == TrainingJobRow.project_id)
        .where(TrainingJobRow.id == job_id)
    ).first()
    if found is None:
        raise NotFound(f"job {job_id} does not exist")
    return found[0], found[1]


def load_job(session: Session, job_id: int) -> Job:
    """Job ``job_id`` whatever its project (the supervisor knows only the id)."""
    row, project = _row(session, job_id)
    return job_entity(row, project)


def claim_job(session: Session, job_id: int, *, host: str, pid: int, started: float) -> Job:
    """Record the supervisor running job ``job_id``; the job as it is now."""
    row, project = _row(session, job_id)
    if row.status in ACTIVE:
        row.host, row.supervisor_pid, row.supervisor_started = host, pid, started
        row.heartbeat_at = utcnow()
        session.flush()
    return job_entity(row, project)


def mark_running(
    session: Session,
    job_id: int,
    *,
    host: str,
    pid: int,
    started: float,
    environment: str | None = None,
) -> bool:
    """The job process started; False when the job was ended meanwhile (it must stop)."""
    row, project = _row(session, job_id)
    if row.status not in ACTIVE:
        return False
    now = utcnow()
    row.status = JobStatus.RUNNING.value
    row.host = row.host or host
    row.pid, row.process_started, row.environment = pid, started, environment
    row.started_at = row.started_at or now
    row.heartbeat_at = now
    if row.run_id is not None:
        try:
            with session.begin_nested():
                update_run(session, project, row.run_id, status=RunStatus.RUNNING)
        except KilnError:  # the run was deleted; the job runs regardless
            pass
    session.flush()
    return not row.cancel_requested


def append_output(session: Session, job_id: int, seq: int, chunks: Sequence[str]) -> bool:
    """Store ``chunks`` as output chunks ``seq``, ``seq + 1``, …, beat the heart; cancel asked?"""
    session.add_all(
        TrainingJobLogRow(job_id=job_id, seq=seq + n, text=text) for n, text in enumerate(chunks)
    )
    session.execute(
        update(TrainingJobRow).where(TrainingJobRow.id == job_id).values(heartbeat_at=utcnow())
    )
    return bool(
        session.scalar(select(TrainingJobRow.cancel_requested).where(TrainingJobRow.id == job_id))
    )


def cancel_requested(session: Session, job_id: int) -> bool:
    return bool(
        session.scalar(select(TrainingJobRow.cancel_requested).where(TrainingJobRow.id == job_id))
    )


def full_output(session: Session, job_id: int) -> str:
    """Every chunk of the job's output, in order."""
    return "".join(
        session.scalars(
            select(TrainingJobLogRow.text)
            .where(TrainingJobLogRow.job_id == job_id)
            .order_by(TrainingJobLogRow.seq)
        )
    )


def _metrics(outcome: Outcome) -> list[Metric]:
    stamp = now_ms()
    values = {
        "job.cpu_seconds": outcome.cpu_seconds,
        "job.peak_memory_bytes": outcome.peak_memory_bytes,
        "job.gpu_seconds": outcome.gpu_seconds,
        "job.wall_seconds": outcome.wall_seconds,
        "job.exit_code": outcome.exit_code,
    }
    return [Metric(k, float(v), 0, stamp) for k, v in values.items() if v is not None]


def _end_run(
    session: Session,
    project: str,
    run_id: str,
    outcome: Outcome,
    files: Sequence[RunArtifact],
) -> None:
    """End the job's run (even one the job's code already ended) with its usage and files."""
    try:
        with session.begin_nested():
            update_run(session, project, run_id, status=RunStatus.RUNNING)
            if files:
                record_artifacts(session, project, run_id, files)
            finish_run(
                session,
                project,
                run_id,
                outcome.status.run_status,
                outcome.failure,
                metrics=_metrics(outcome),
                tags=[("kiln.job.status", outcome.status.value)],
            )
    except KilnError:  # the run was deleted meanwhile: the job's own record still counts
        pass


def finish_job(
    session: Session, job_id: int, outcome: Outcome, *, files: Sequence[RunArtifact] = ()
) -> Job:
    """Record the end of a job that has not ended yet; ``files`` go to its run (the output)."""
    row, project = _row(session, job_id)
    if row.status not in ACTIVE:
        return job_entity(row, project)
    row.status = outcome.status.value
    row.exit_code = outcome.exit_code
    row.cpu_seconds = outcome.cpu_seconds
    row.peak_memory_bytes = outcome.peak_memory_bytes
    row.gpu_seconds = outcome.gpu_seconds
    row.failure = outcome.failure
    row.ended_at = utcnow()
    if row.started_at is None:
        row.started_at = row.ended_at
    if row.run_id is not None:
        _end_run(session, project, row.run_id, outcome, files)
    session.flush()
    return job_entity(row, project)


def mark_dead(
    session: Session,
    job_id: int,
    supervisor_pid: int | None,
    failure: str,
    *,
    files: Sequence[RunArtifact] = (),
) -> bool:
    """Fail a job whose supervisor died, unless it ended or another supervisor took it."""
    row, _ = _row(session, job_id)
    if row.status not in ACTIVE or row.supervisor_pid != supervisor_pid:
        return False
    wall = (utcnow() - row.started_at).total_seconds() if row.started_at else None
    outcome = Outcome(JobStatus.FAILED, failure=failure, wall_seconds=wall)
    finish_job(session, job_id, outcome, files=files)
    return True
