"""Pipeline schedules: services on a ``Session`` that create, change and list them.

::

    create_schedule / update_schedule ──► pipeline_schedules row, next_fire_at (UTC)
      │ cron + timezone (_cron.py) give the next fire time; disabled: none
    get_schedule, list_schedules, list_firings ──► Schedule, ScheduleFiring (plain records)
    delete_schedule ──► the row and its firings (the pipeline runs stay)

The lease that claims fire times, and what becomes of a firing, live in
``_firings.py``; the process that executes them in ``_scheduler.py``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db import utcnow
from kiln.db.tables import PipelineScheduleRow, ScheduleFiringRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.pipelines._cron import check_cron, check_timezone, next_fire_time
from kiln.pipelines._schedule_entities import CatchUp, FiringStatus, Schedule, ScheduleFiring

__all__ = [
    "create_schedule",
    "delete_schedule",
    "get_schedule",
    "list_firings",
    "list_schedules",
    "update_schedule",
]

#: Listings return at most this many records.
MAX_LIST = 1000

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,200}")
_DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
#: ``module:function`` of a pipeline (alert rules that start one check it too).
TARGET = re.compile(rf"{_DOTTED}:{_DOTTED}")


# --- validation ------------------------------------------------------------------


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"schedule name {name!r} is not valid: use 1 to 200 letters, digits, '_', '.' or '-'",
            field="name",
        )
    return name


def _check_target(target: str) -> str:
    if not isinstance(target, str) or len(target) > 1024 or not TARGET.fullmatch(target):
        raise InvalidInput(
            f"target {target!r} is not module:function (e.g. flows:training), naming a pipeline "
            "importable from the schedule's working directory",
            field="target",
        )
    return target


def _check_catch_up(catch_up: CatchUp | str) -> CatchUp:
    try:
        return CatchUp(catch_up)
    except ValueError:
        known = ", ".join(c.value for c in CatchUp)
        raise InvalidInput(
            f"unknown catch-up policy {catch_up!r}; use one of {known}", field="catch_up"
        ) from None


def _check_runner(runner: str) -> str:
    from kiln.pipelines._runner import known_runners

    known = known_runners()
    if runner not in known:
        raise InvalidInput(
            f"unknown runner {runner!r}; known runners: {', '.join(known)}", field="runner"
        )
    return runner


def _params_json(params: dict[str, Any] | None) -> str:
    if params is None:
        return "{}"
    if not isinstance(params, dict) or not all(isinstance(key, str) for key in params):
        raise InvalidInput(
            f"params must be a mapping of parameter names to values, got {params!r}",
            field="params",
        )
    try:
        return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"params must be JSON values (str, int, float, bool, None, lists and dicts): {exc}",
            field="params",
        ) from None


def _check_workdir(workdir: str) -> str:
    from pathlib import PurePath

    if not isinstance(workdir, str) or (workdir and not PurePath(workdir).is_absolute()):
        raise InvalidInput(
            f"workdir {workdir!r} must be an absolute path (the folder the target imports from)",
            field="workdir",
        )
    return workdir


def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidInput(f"now must be a timezone-aware datetime, got {now!r}", field="now")
    return now.astimezone(UTC)


# --- entities -----------------------------------------------------------------


def _schedule(row: PipelineScheduleRow, project: str) -> Schedule:
    return Schedule(
        id=row.id,
        project=project,
        name=row.name,
        target=row.target,
        workdir=row.workdir,
        cron=row.cron,
        timezone=row.timezone,
        params=json.loads(row.params or "{}"),
        runner=row.runner,
        catch_up=CatchUp(row.catch_up),
        enabled=row.enabled,
        next_fire_at=row.next_fire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
    )


def _firing(row: ScheduleFiringRow, schedule: str, project: str) -> ScheduleFiring:
    return ScheduleFiring(
        id=row.id,
        schedule_id=row.schedule_id,
        schedule=schedule,
        project=project,
        fire_time=row.fire_time,
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        status=FiringStatus(row.status),
        pipeline_run_id=row.pipeline_run_id,
        error=row.error,
        finished_at=row.finished_at,
    )


def _row(session: Session, project: str, name: str) -> PipelineScheduleRow:
    row = session.scalar(
        select(PipelineScheduleRow).where(
            PipelineScheduleRow.project_id == _project_id(session, project),
            PipelineScheduleRow.name == name,
        )
    )
    if row is None:
        raise NotFound(
            f"schedule {name!r} does not exist in project {project!r}; "
            "`kiln pipelines schedules list` shows the schedules"
        )
    return row


# --- schedules ----------------------------------------------------------------


def create_schedule(
    session: Session,
    project: str,
    *,
    name: str,
    target: str,
    cron: str,
    params: dict[str, Any] | None = None,
    runner: str = "sequential",
    timezone: str = "UTC",
    catch_up: CatchUp | str = CatchUp.LATEST,
    workdir: str = "",
    user: str = "",
    enabled: bool = True,
    now: datetime | None = None,
) -> Schedule:
    """Schedule ``target`` (``module:function``) on ``cron``, read in ``timezone``.

    The first fire time is the first cron time after ``now`` (default: the
    current time). ``AlreadyExists`` if the project has a schedule ``name``.
    """
    _check_name(name)
    _check_target(target)
    check_timezone(timezone)
    cron = check_cron(cron)
    policy = _check_catch_up(catch_up)
    _check_runner(runner)
    _check_workdir(workdir)
    now = _aware(now)
    row = PipelineScheduleRow(
        project_id=_project_id(session, project),
        name=name,
        target=target,
        workdir=workdir,
        cron=cron,
        timezone=timezone,
        params=_params_json(params),
        runner=runner,
        catch_up=policy.value,
        enabled=enabled,
        next_fire_at=next_fire_time(cron, timezone, now) if enabled else None,
        created_at=now,
        updated_at=now,
        created_by=user,
    )
    from sqlalchemy.exc import IntegrityError

    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(
            f"schedule {name!r} already exists in project {project!r}; update it or pick "
            "another name",
            field="name",
        ) from None
    return _schedule(row, project)


def update_schedule(
    session: Session,
    project: str,
    name: str,
    *,
    enabled: bool | None = None,
    cron: str | None = None,
    timezone: str | None = None,
    params: dict[str, Any] | None = None,
    runner: str | None = None,
    catch_up: CatchUp | str | None = None,
    target: str | None = None,
    workdir: str | None = None,
    now: datetime | None = None,
) -> Schedule:
    """Change a schedule; what is not given stays.

    Changing the cron expression or time zone, or enabling the schedule,
    sets the next fire time to the first cron time after ``now``: the time
    a schedule spent disabled is not caught up. Disabling clears it.
    """
    row = _row(session, project, name)
    now = _aware(now)
    if cron is not None:
        row.cron = check_cron(cron)
    if timezone is not None:
        check_timezone(timezone)
        row.timezone = timezone
    if params is not None:
        row.params = _params_json(params)
    if runner is not None:
        row.runner = _check_runner(runner)
    if catch_up is not None:
        row.catch_up = _check_catch_up(catch_up).value
    if target is not None:
        row.target = _check_target(target)
    if workdir is not None:
        row.workdir = _check_workdir(workdir)
    was_enabled = row.enabled
    if enabled is not None:
        row.enabled = bool(enabled)
    if not row.enabled:
        row.next_fire_at = None
    elif not was_enabled or cron is not None or timezone is not None or row.next_fire_at is None:
        row.next_fire_at = next_fire_time(row.cron, row.timezone, now)
    row.updated_at = now
    session.flush()
    return _schedule(row, project)


def delete_schedule(session: Session, project: str, name: str) -> None:
    """Delete a schedule and its firings (the pipeline runs it started stay)."""
    row = _row(session, project, name)
    session.execute(delete(ScheduleFiringRow).where(ScheduleFiringRow.schedule_id == row.id))
    session.delete(row)


def get_schedule(session: Session, project: str, name: str) -> Schedule:
    """The schedule ``name`` of ``project``, or ``NotFound``."""
    return _schedule(_row(session, project, name), project)


def list_schedules(
    session: Session, project: str, *, enabled: bool | None = None
) -> list[Schedule]:
    """The project's schedules, by name."""
    query = select(PipelineScheduleRow).where(
        PipelineScheduleRow.project_id == _project_id(session, project)
    )
    if enabled is not None:
        query = query.where(PipelineScheduleRow.enabled.is_(enabled))
    return [_schedule(row, project) for row in session.scalars(query.order_by("name"))]


def list_firings(
    session: Session,
    project: str,
    name: str,
    *,
    status: FiringStatus | str | None = None,
    limit: int = 20,
) -> list[ScheduleFiring]:
    """A schedule's firings, newest fire time first."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit!r}", field="limit")
    row = _row(session, project, name)
    query = select(ScheduleFiringRow).where(ScheduleFiringRow.schedule_id == row.id)
    if status is not None:
        try:
            wanted = FiringStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in FiringStatus)
            raise InvalidInput(
                f"unknown firing status {status!r}; use one of {known}", field="status"
            ) from None
        query = query.where(ScheduleFiringRow.status == wanted.value)
    query = query.order_by(ScheduleFiringRow.fire_time.desc()).limit(limit)
    return [_firing(firing, name, project) for firing in session.scalars(query)]
