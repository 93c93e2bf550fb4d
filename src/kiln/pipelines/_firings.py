"""The lease that claims a schedule's fire times, and what becomes of each firing.

::

    claim_due_firings(now, scheduler_id)     every enabled schedule with next_fire_at <= now
      │ fire times in [next_fire_at, now] ──► catch-up policy ──► to run / MISSED
      │ compare-and-set next_fire_at (of two schedulers, one UPDATE matches the old value)
      │ INSERT schedule_firings … ON CONFLICT (schedule_id, fire_time) DO NOTHING
      ▼
    ScheduleClaim(firing CLAIMED, schedule, run_id) ──► the scheduler starts the run
    start_firing ─► link_firing_run ─► settle_firing (SUCCEEDED, FAILED, PAUSED)
    sync_firings: firings whose run ended (or was resumed) while no scheduler watched it

A firing's pipeline run id is derived from the firing row (``firing_run_id``),
so any scheduler can find the run of a firing whose scheduler stopped before
the run was recorded.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import PipelineRunRow, PipelineScheduleRow, ProjectRow, ScheduleFiringRow
from kiln.errors import InvalidInput, NotFound
from kiln.pipelines._cron import fire_times, next_fire_time
from kiln.pipelines._entities import PipelineStatus
from kiln.pipelines._schedule_entities import (
    CatchUp,
    FiringStatus,
    ScheduleClaim,
    ScheduleFiring,
)
from kiln.pipelines._schedules import _aware, _firing, _schedule

__all__ = [
    "DEFAULT_GRACE",
    "MAX_CATCH_UP",
    "claim_due_firings",
    "firing_run_id",
    "get_firing",
    "link_firing_run",
    "note_firing",
    "settle_firing",
    "start_firing",
    "sync_firings",
]

logger = logging.getLogger("kiln.pipelines.scheduler")

#: A due fire time younger than this is on time (it runs even under ``skip``).
DEFAULT_GRACE = timedelta(minutes=1)
#: At most this many fire times of one schedule are run (or recorded MISSED) per claim.
MAX_CATCH_UP = 100
#: How much of a failed process' output a firing keeps.
OUTPUT_TAIL = 2000

_FINAL = {
    PipelineStatus.SUCCEEDED.value: FiringStatus.SUCCEEDED,
    PipelineStatus.FAILED.value: FiringStatus.FAILED,
    PipelineStatus.PAUSED.value: FiringStatus.PAUSED,
}


def firing_run_id(firing_id: int, schedule_id: int, fire_time: datetime, claimed_by: str) -> str:
    """The pipeline run id of a firing: 32 hex characters derived from its row.

    The scheduler id holds a random part, so a firing id reused after a
    deletion (SQLite reuses the largest rowid) still gives a new run id.
    """
    key = f"kiln-firing:{firing_id}:{schedule_id}:{fire_time.isoformat()}:{claimed_by}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# --- the lease ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    run: list[datetime]  # oldest first
    missed: list[datetime]
    truncated: bool
    next_fire_at: datetime


def _plan(row: PipelineScheduleRow, now: datetime, grace: timedelta) -> _Plan:
    due = row.next_fire_at
    assert due is not None
    times = fire_times(row.cron, row.timezone, due, now, MAX_CATCH_UP + 1)
    truncated = len(times) > MAX_CATCH_UP
    times = times[:MAX_CATCH_UP]
    policy = CatchUp(row.catch_up)
    run: list[datetime] = []
    if policy is CatchUp.ALL:
        run = times
    elif times and (policy is CatchUp.LATEST or now - times[0] <= grace):
        run = times[:1]
    missed = [moment for moment in times if moment not in run]
    return _Plan(
        run=sorted(run),
        missed=sorted(missed),
        truncated=truncated,
        next_fire_at=next_fire_time(row.cron, row.timezone, now),
    )


def claim_due_firings(
    session: Session,
    now: datetime | None,
    scheduler_id: str,
    *,
    grace: timedelta = DEFAULT_GRACE,
) -> list[ScheduleClaim]:
    """Claim the fire times that are due at ``now``, in every project; return the won ones.

    For each enabled schedule whose ``next_fire_at`` has come, the fire
    times up to ``now`` go through its catch-up policy: those to run get a
    CLAIMED firing, those passed over a MISSED one, and ``next_fire_at``
    moves to the first cron time after ``now``. Two schedulers may call this
    at once on the same store: moving ``next_fire_at`` is a compare-and-set
    on its old value, so only one of them goes on with a schedule, and the
    firings' unique ``(schedule_id, fire_time)`` refuses a second row for a
    fire time whatever happens. Call it through ``Database.run``.
    """
    now = _aware(now)
    if not isinstance(scheduler_id, str) or not 1 <= len(scheduler_id) <= 256:
        raise InvalidInput(f"scheduler id {scheduler_id!r} is not valid", field="scheduler_id")
    due = session.execute(
        select(PipelineScheduleRow, ProjectRow.name)
        .join(ProjectRow, ProjectRow.id == PipelineScheduleRow.project_id)
        .where(
            PipelineScheduleRow.enabled.is_(True),
            PipelineScheduleRow.next_fire_at.is_not(None),
            PipelineScheduleRow.next_fire_at <= now,
        )
        .order_by(PipelineScheduleRow.id)  # one lock order for every scheduler
    ).all()
    claims: list[ScheduleClaim] = []
    for row, project in due:
        try:
            plan = _plan(row, now, grace)
        except InvalidInput as exc:  # e.g. a time zone this machine's tzdata lacks
            logger.error("schedule %s/%s cannot be computed here: %s", project, row.name, exc)
            continue
        moved = session.execute(
            update(PipelineScheduleRow)
            .where(
                PipelineScheduleRow.id == row.id,
                PipelineScheduleRow.next_fire_at == row.next_fire_at,
                PipelineScheduleRow.enabled.is_(True),
            )
            .values(next_fire_at=plan.next_fire_at)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another scheduler claimed this schedule's due times first
        if plan.truncated:
            logger.warning(
                "schedule %s/%s: more than %d fire times were due; only the newest %d count",
                project,
                row.name,
                MAX_CATCH_UP,
                MAX_CATCH_UP,
            )
        for moment in plan.missed:
            _insert_firing(session, row.id, moment, scheduler_id, FiringStatus.MISSED, now)
        if plan.missed:
            logger.info(
                "schedule %s/%s: %d missed fire time(s) not run (catch-up %s)",
                project,
                row.name,
                len(plan.missed),
                row.catch_up,
            )
        schedule = replace(_schedule(row, project), next_fire_at=plan.next_fire_at)
        for moment in plan.run:
            firing_id = _insert_firing(
                session, row.id, moment, scheduler_id, FiringStatus.CLAIMED, now
            )
            if firing_id is None:
                continue  # this fire time has a firing already
            firing = ScheduleFiring(
                id=firing_id,
                schedule_id=row.id,
                schedule=row.name,
                project=project,
                fire_time=moment,
                claimed_by=scheduler_id,
                claimed_at=now,
                status=FiringStatus.CLAIMED,
                pipeline_run_id=None,
                error=None,
                finished_at=None,
            )
            run_id = firing_run_id(firing_id, row.id, moment, scheduler_id)
            claims.append(ScheduleClaim(firing, schedule, run_id))
    return claims


def _insert_firing(
    session: Session,
    schedule_id: int,
    fire_time: datetime,
    scheduler_id: str,
    status: FiringStatus,
    now: datetime,
) -> int | None:
    """Insert a firing unless its fire time has one already; its id, or None."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(ScheduleFiringRow)
        .values(
            schedule_id=schedule_id,
            fire_time=fire_time,
            claimed_by=scheduler_id,
            claimed_at=now,
            status=status.value,
            finished_at=now if status is FiringStatus.MISSED else None,
        )
        .on_conflict_do_nothing(index_elements=["schedule_id", "fire_time"])
        .returning(ScheduleFiringRow.id)
    )
    inserted: int | None = session.execute(statement).scalar_one_or_none()
    return inserted


# --- what became of a firing ---------------------------------------------------


def start_firing(session: Session, firing_id: int) -> None:
    """The firing's pipeline process started."""
    session.execute(
        update(ScheduleFiringRow)
        .where(
            ScheduleFiringRow.id == firing_id,
            ScheduleFiringRow.status == FiringStatus.CLAIMED.value,
        )
        .values(status=FiringStatus.STARTED.value)
    )


def link_firing_run(session: Session, firing_id: int, run_id: str) -> bool:
    """Point the firing at its pipeline run if that run is recorded yet; whether it is."""
    if session.get(PipelineRunRow, run_id) is None:
        return False
    session.execute(
        update(ScheduleFiringRow)
        .where(ScheduleFiringRow.id == firing_id)
        .values(pipeline_run_id=run_id)
    )
    return True


def note_firing(session: Session, firing_id: int, note: str) -> None:
    """Leave a note on a firing that is still going (e.g. its scheduler stopped)."""
    session.execute(
        update(ScheduleFiringRow)
        .where(ScheduleFiringRow.id == firing_id, ScheduleFiringRow.finished_at.is_(None))
        .values(error=note)
    )


def settle_firing(
    session: Session,
    firing_id: int,
    run_id: str | None,
    *,
    exit_code: int | None,
    output: str = "",
) -> FiringStatus:
    """Record how a firing ended, from its pipeline run and its process' exit.

    A recorded run that ended gives its status (and error). A process that
    exited while its run was still RUNNING died mid-run: the run is ended
    FAILED too. No run at all (the process failed to start or to import the
    pipeline) is FAILED with the tail of ``output``.
    """
    from kiln.pipelines._records import finish_pipeline_run

    run = session.get(PipelineRunRow, run_id) if run_id else None
    tail = output.strip()[-OUTPUT_TAIL:]
    how = _how(exit_code)
    error: str | None
    if run is None:
        status, error = FiringStatus.FAILED, f"the pipeline process {how}: {tail or 'no output'}"
    elif run.status in _FINAL:
        status, error = _FINAL[run.status], run.error
    else:
        error = f"the pipeline process {how} while the run was {run.status}: {tail or 'no output'}"
        finish_pipeline_run(session, run.id, PipelineStatus.FAILED, error)
        status = FiringStatus.FAILED
    session.execute(
        update(ScheduleFiringRow)
        .where(ScheduleFiringRow.id == firing_id)
        .values(
            status=status.value,
            error=error,
            finished_at=utcnow(),
            pipeline_run_id=run.id if run is not None else None,
        )
    )
    return status


def _how(exit_code: int | None) -> str:
    if exit_code is None:
        return "could not start"
    if exit_code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"was killed by signal {-exit_code}"
    return f"exited with code {exit_code}"


def sync_firings(session: Session) -> int:
    """Bring STARTED and PAUSED firings up to their runs' end; returns how many changed.

    A scheduler that stopped while its runs went on leaves STARTED firings,
    perhaps not yet linked to their run; a PAUSED run that was resumed ends
    later. Any scheduler's tick links and settles them from the run records.
    """
    changed = 0
    unlinked = session.scalars(
        select(ScheduleFiringRow).where(
            ScheduleFiringRow.status == FiringStatus.STARTED.value,
            ScheduleFiringRow.pipeline_run_id.is_(None),
        )
    ).all()
    for firing in unlinked:
        run_id = firing_run_id(firing.id, firing.schedule_id, firing.fire_time, firing.claimed_by)
        if session.get(PipelineRunRow, run_id) is not None:
            firing.pipeline_run_id = run_id
            changed += 1
    session.flush()
    rows = session.execute(
        select(
            ScheduleFiringRow,
            PipelineRunRow.status,
            PipelineRunRow.error,
            PipelineRunRow.end_time,
        )
        .join(PipelineRunRow, PipelineRunRow.id == ScheduleFiringRow.pipeline_run_id)
        .where(
            ScheduleFiringRow.status.in_((FiringStatus.STARTED.value, FiringStatus.PAUSED.value)),
            PipelineRunRow.status.in_(tuple(_FINAL)),
            PipelineRunRow.status != ScheduleFiringRow.status,
        )
    ).all()
    for firing, status, error, end_time in rows:
        firing.status = _FINAL[status].value
        firing.error = error
        firing.finished_at = end_time or utcnow()
    return changed + len(rows)


def get_firing(session: Session, firing_id: int) -> ScheduleFiring:
    """The firing ``firing_id``, or ``NotFound``."""
    found = session.execute(
        select(ScheduleFiringRow, PipelineScheduleRow.name, ProjectRow.name)
        .join(PipelineScheduleRow, PipelineScheduleRow.id == ScheduleFiringRow.schedule_id)
        .join(ProjectRow, ProjectRow.id == PipelineScheduleRow.project_id)
        .where(ScheduleFiringRow.id == firing_id)
    ).first()
    if found is None:
        raise NotFound(f"schedule firing {firing_id} does not exist (was its schedule deleted?)")
    row, schedule, project = found
    return _firing(row, schedule, project)
