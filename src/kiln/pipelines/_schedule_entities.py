"""Plain domain objects of pipeline schedules (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = ["CatchUp", "FiringStatus", "Schedule", "ScheduleClaim", "ScheduleFiring"]


class CatchUp(StrEnum):
    """What a scheduler does with fire times that passed while no scheduler ran.

    A fire time counts as *missed* when it is older than the scheduler's
    grace (a minute, or two polls) by the time it is claimed.

    - ``skip``: run none of the missed times; an on-time fire still runs.
    - ``latest``: run the most recent due time, on time or not; older ones are missed.
    - ``all``: run every due time, oldest first (at most ``MAX_CATCH_UP`` at once).
    """

    SKIP = "skip"
    LATEST = "latest"
    ALL = "all"


class FiringStatus(StrEnum):
    """Where one fire time of a schedule is.

    CLAIMED: a scheduler took it (the lease) and is about to start its run.
    STARTED: its ``kiln pipelines run`` process started. SUCCEEDED, FAILED,
    PAUSED: the pipeline run's end (FAILED also when the process died).
    MISSED: the catch-up policy chose not to run it.
    """

    CLAIMED = "CLAIMED"
    STARTED = "STARTED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PAUSED = "PAUSED"
    MISSED = "MISSED"


@dataclass(frozen=True, slots=True)
class Schedule:
    """A pipeline run on a cron schedule, in a project.

    ``next_fire_at`` (UTC) is the next fire time no scheduler has claimed
    yet; None while the schedule is disabled.
    """

    id: int
    project: str
    name: str
    #: ``module:function`` of the pipeline, importable from ``workdir``.
    target: str
    workdir: str
    #: Five cron fields (minute hour day-of-month month day-of-week), read in ``timezone``.
    cron: str
    timezone: str
    params: dict[str, Any]
    runner: str
    catch_up: CatchUp
    enabled: bool
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class ScheduleFiring:
    """One fire time of a schedule, and what became of it."""

    id: int
    schedule_id: int
    schedule: str
    project: str
    #: The cron time this firing is for (UTC), not when it actually started.
    fire_time: datetime
    #: The scheduler that claimed it (``host:pid:random``).
    claimed_by: str
    claimed_at: datetime
    status: FiringStatus
    #: The pipeline run it started, once that run is recorded.
    pipeline_run_id: str | None
    error: str | None
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class ScheduleClaim:
    """A firing a scheduler won, with what it needs to start the run.

    ``run_id`` is chosen at claim time and handed to the pipeline process,
    which records its run under that id; the firing row points at the run
    once the run exists.
    """

    firing: ScheduleFiring
    schedule: Schedule
    run_id: str
