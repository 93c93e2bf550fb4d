"""Services over pipeline records: plain functions taking a ``Session`` first.

The engine writes through them while a run goes (one short transaction per
step change, through ``Database.run``); the CLI, the REST API and the UI read
through :func:`list_pipeline_runs`, :func:`get_pipeline_run` and
:func:`get_step_run`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db import utcnow
from kiln.db.tables import PipelineRunRow, ProjectRow, StepCacheRow, StepRunRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.pipelines._entities import (
    OutputRef,
    PipelineRun,
    PipelineStatus,
    StepRun,
    StepStatus,
)
from kiln.pipelines._task import StepOutcome

__all__ = [
    "CacheHit",
    "PlannedStep",
    "begin_step",
    "create_pipeline_run",
    "finish_pipeline_run",
    "finish_step",
    "get_pipeline_run",
    "get_step_run",
    "list_pipeline_runs",
    "reopen_pipeline_run",
    "skip_step",
]

#: Listings return at most this many runs.
MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step invocation as the run starts: what it is and where it sits in the DAG."""

    invocation: str
    step: str
    position: int
    params: dict[str, Any]
    upstream: tuple[str, ...]
    resources: dict[str, Any]


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _outputs_json(outputs: Sequence[OutputRef]) -> str:
    return _dumps([output.to_json() for output in outputs])


def _outputs(text: str) -> tuple[OutputRef, ...]:
    return tuple(OutputRef.from_json(item) for item in json.loads(text or "[]"))


def create_pipeline_run(
    session: Session,
    project: str,
    *,
    run_id: str,
    pipeline: str,
    runner: str,
    params: dict[str, Any],
    no_cache: bool,
    steps: Sequence[PlannedStep],
    target: str = "",
    workdir: str = "",
) -> int:
    """Record a RUNNING pipeline run and its steps (PENDING); returns the project's id."""
    project_id = _project_id(session, project)
    session.add(
        PipelineRunRow(
            id=run_id,
            project_id=project_id,
            pipeline=pipeline,
            status=PipelineStatus.RUNNING.value,
            runner=runner,
            params=_dumps(params),
            no_cache=no_cache,
            start_time=utcnow(),
            target=target,
            workdir=workdir,
        )
    )
    session.flush()
    session.add_all(
        StepRunRow(
            run_id=run_id,
            invocation=planned.invocation,
            step=planned.step,
            position=planned.position,
            status=StepStatus.PENDING.value,
            cached=False,
            params=_dumps(planned.params),
            upstream=_dumps(list(planned.upstream)),
            resources=_dumps(planned.resources),
            attempts=0,
        )
        for planned in steps
    )
    return project_id


@dataclass(frozen=True, slots=True)
class CacheHit:
    """A cache entry that answered a step: its outputs, and the step run that made them."""

    outputs: tuple[OutputRef, ...]
    #: ``(pipeline run id, invocation)`` of the step run that produced the outputs, if kept.
    source: tuple[str, str] | None


def begin_step(
    session: Session,
    run_id: str,
    invocation: str,
    *,
    project_id: int,
    cache_key: str | None,
    inputs: dict[str, Any],
    lookup: bool,
    available: Callable[[tuple[OutputRef, ...]], bool],
) -> CacheHit | None:
    """Start a step: a cache hit ends it at once (SUCCEEDED, cached), else it is RUNNING.

    ``lookup`` says whether to consult the cache; ``available`` decides
    whether a cached entry's outputs can still be read. Returns the hit, or
    None.
    """
    now = utcnow()
    where = (StepRunRow.run_id == run_id, StepRunRow.invocation == invocation)
    if lookup and cache_key is not None:
        entry = session.get(StepCacheRow, (project_id, cache_key))
        if entry is not None:
            outputs = _outputs(entry.outputs)
            if available(outputs):
                session.execute(
                    update(StepRunRow)
                    .where(*where)
                    .values(
                        status=StepStatus.SUCCEEDED.value,
                        cached=True,
                        cache_key=cache_key,
                        inputs=_dumps(inputs),
                        outputs=_outputs_json(outputs),
                        start_time=now,
                        end_time=now,
                        duration_seconds=0.0,
                    )
                )
                source = (
                    session.execute(
                        select(StepRunRow.run_id, StepRunRow.invocation).where(
                            StepRunRow.id == entry.step_run_id
                        )
                    ).first()
                    if entry.step_run_id is not None
                    else None
                )
                return CacheHit(outputs, (source[0], source[1]) if source else None)
    session.execute(
        update(StepRunRow)
        .where(*where)
        .values(
            status=StepStatus.RUNNING.value,
            cache_key=cache_key,
            inputs=_dumps(inputs),
            start_time=now,
        )
    )
    return None


def finish_step(
    session: Session,
    run_id: str,
    outcome: StepOutcome,
    *,
    project_id: int,
    cache_key: str | None,
    remember: bool,
    logs: tuple[str, str | None, str, str | None],
    paused: bool = False,
) -> None:
    """Record a step's outcome; when it succeeded and ``remember``, put it in the cache.

    ``logs`` is ``(stdout, stdout_digest, stderr, stderr_digest)`` as stored;
    ``paused`` records a failed gate as PAUSED instead of FAILED.
    """
    row = session.scalar(
        select(StepRunRow).where(
            StepRunRow.run_id == run_id, StepRunRow.invocation == outcome.invocation
        )
    )
    if row is None:
        raise NotFound(f"pipeline run {run_id} has no step invocation {outcome.invocation!r}")
    outputs = (outcome.output,) if outcome.output is not None else ()
    failed = StepStatus.PAUSED if paused else StepStatus.FAILED
    row.status = (StepStatus.SUCCEEDED if outcome.succeeded else failed).value
    row.outputs = _outputs_json(outputs)
    row.attempts = outcome.attempts
    row.start_time = outcome.start_time
    row.end_time = outcome.end_time
    row.duration_seconds = (outcome.end_time - outcome.start_time).total_seconds()
    row.cpu_seconds = outcome.cpu_seconds
    row.peak_memory_bytes = outcome.peak_memory_bytes
    row.stdout, row.stdout_digest, row.stderr, row.stderr_digest = logs
    row.error = outcome.error
    row.traceback = outcome.traceback
    if not (outcome.succeeded and remember and cache_key is not None and outputs):
        return
    session.flush()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = dialect.insert(StepCacheRow).values(
        project_id=project_id,
        key=cache_key,
        step=row.step,
        outputs=row.outputs,
        step_run_id=row.id,
        created_at=utcnow(),
    )
    changed = ("step", "outputs", "step_run_id", "created_at")
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["project_id", "key"],
            set_={name: insert.excluded[name] for name in changed},
        )
    )


def skip_step(session: Session, run_id: str, invocation: str, reason: str) -> None:
    """Mark a step SKIPPED: it will not run because ``reason`` (an upstream step failed)."""
    session.execute(
        update(StepRunRow)
        .where(StepRunRow.run_id == run_id, StepRunRow.invocation == invocation)
        .values(status=StepStatus.SKIPPED.value, error=reason)
    )


def finish_pipeline_run(
    session: Session, run_id: str, status: PipelineStatus, error: str | None
) -> None:
    """End a run. Steps still RUNNING become FAILED; steps still PENDING become SKIPPED,
    except in a PAUSED run, where they wait for the resume."""
    now = utcnow()
    session.execute(
        update(PipelineRunRow)
        .where(PipelineRunRow.id == run_id)
        .values(status=status.value, error=error, end_time=now)
    )
    if status is not PipelineStatus.PAUSED:
        session.execute(
            update(StepRunRow)
            .where(StepRunRow.run_id == run_id, StepRunRow.status == StepStatus.PENDING.value)
            .values(status=StepStatus.SKIPPED.value, error="the run ended before this step started")
        )
    session.execute(
        update(StepRunRow)
        .where(StepRunRow.run_id == run_id, StepRunRow.status == StepStatus.RUNNING.value)
        .values(
            status=StepStatus.FAILED.value,
            end_time=now,
            error=f"the run ended before this step finished ({error or 'stopped'})",
        )
    )


def reopen_pipeline_run(
    session: Session,
    run_id: str,
    *,
    keep: Sequence[str],
    accepted: dict[str, tuple[OutputRef, str]],
) -> None:
    """Set a PAUSED or FAILED run RUNNING again for a resume.

    Steps in ``keep`` stay as they are (SUCCEEDED, their outputs reused);
    ``accepted`` gates become SUCCEEDED with the given output and a note on
    their stderr; every other step goes back to PENDING.
    """
    row = session.get(PipelineRunRow, run_id)
    if row is None:
        raise NotFound(f"pipeline run {run_id!r} does not exist")
    if row.status not in (PipelineStatus.PAUSED.value, PipelineStatus.FAILED.value):
        raise Conflict(
            f"pipeline run {run_id} is {row.status}; only PAUSED or FAILED runs can be resumed"
        )
    row.status = PipelineStatus.RUNNING.value
    row.error = None
    row.end_time = None
    row.resumes += 1
    now = utcnow()
    for step in session.scalars(select(StepRunRow).where(StepRunRow.run_id == run_id)):
        if step.invocation in keep:
            continue
        if step.invocation in accepted:
            output, note = accepted[step.invocation]
            step.status = StepStatus.SUCCEEDED.value
            step.outputs = _outputs_json([output])
            step.stderr = (step.stderr + ("\n" if step.stderr else "") + note)[-64 * 1024 :]
            step.end_time = now
            continue
        step.status = StepStatus.PENDING.value
        step.cached = False
        step.outputs = "[]"
        step.error = None
        step.traceback = None
        step.start_time = None
        step.end_time = None
        step.duration_seconds = None


def _step_run(row: StepRunRow) -> StepRun:
    return StepRun(
        id=row.id,
        run_id=row.run_id,
        invocation=row.invocation,
        step=row.step,
        position=row.position,
        status=StepStatus(row.status),
        cached=row.cached,
        cache_key=row.cache_key,
        params=json.loads(row.params),
        upstream=tuple(json.loads(row.upstream)),
        inputs=json.loads(row.inputs),
        outputs=_outputs(row.outputs),
        resources=json.loads(row.resources),
        attempts=row.attempts,
        start_time=row.start_time,
        end_time=row.end_time,
        duration_seconds=row.duration_seconds,
        cpu_seconds=row.cpu_seconds,
        peak_memory_bytes=row.peak_memory_bytes,
        stdout=row.stdout,
        stderr=row.stderr,
        stdout_digest=row.stdout_digest,
        stderr_digest=row.stderr_digest,
        error=row.error,
        traceback=row.traceback,
    )


def _pipeline_run(row: PipelineRunRow, project: str, steps: tuple[StepRun, ...]) -> PipelineRun:
    return PipelineRun(
        id=row.id,
        project=project,
        pipeline=row.pipeline,
        status=PipelineStatus(row.status),
        runner=row.runner,
        params=json.loads(row.params),
        no_cache=row.no_cache,
        error=row.error,
        start_time=row.start_time,
        end_time=row.end_time,
        steps=steps,
        target=row.target,
        workdir=row.workdir,
        resumes=row.resumes,
    )


def _run_row(session: Session, project: str, run_id: str) -> PipelineRunRow:
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"pipeline run id {run_id!r} is not valid", field="run_id")
    row = session.scalar(
        select(PipelineRunRow)
        .join(ProjectRow, ProjectRow.id == PipelineRunRow.project_id)
        .where(PipelineRunRow.id == run_id, ProjectRow.name == project)
    )
    if row is None:
        raise NotFound(f"pipeline run {run_id!r} does not exist in project {project!r}")
    return row


def get_pipeline_run(session: Session, project: str, run_id: str) -> PipelineRun:
    """A pipeline run with all its step runs, in call order."""
    row = _run_row(session, project, run_id)
    steps = session.scalars(
        select(StepRunRow).where(StepRunRow.run_id == run_id).order_by(StepRunRow.position)
    )
    return _pipeline_run(row, project, tuple(_step_run(step) for step in steps))


def get_step_run(session: Session, project: str, run_id: str, invocation: str) -> StepRun:
    """One step run of a pipeline run, by invocation (``"train"``, ``"clean[2]"``)."""
    _run_row(session, project, run_id)
    row = session.scalar(
        select(StepRunRow).where(StepRunRow.run_id == run_id, StepRunRow.invocation == invocation)
    )
    if row is None:
        raise NotFound(f"pipeline run {run_id!r} has no step invocation {invocation!r}")
    return _step_run(row)


def list_pipeline_runs(
    session: Session,
    project: str,
    *,
    pipeline: str | None = None,
    status: PipelineStatus | str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[PipelineRun]:
    """The project's runs, newest first, without their steps (``steps`` is empty).

    ``offset`` skips that many of the newest (for paging).
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIST:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIST}, got {limit!r}", field="limit")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"offset must be 0 or more, got {offset!r}", field="offset")
    query = select(PipelineRunRow).where(PipelineRunRow.project_id == _project_id(session, project))
    if pipeline is not None:
        query = query.where(PipelineRunRow.pipeline == pipeline)
    if status is not None:
        try:
            wanted = PipelineStatus(status)
        except ValueError:
            known = ", ".join(s.value for s in PipelineStatus)
            raise InvalidInput(
                f"unknown pipeline run status {status!r}; use one of {known}", field="status"
            ) from None
        query = query.where(PipelineRunRow.status == wanted.value)
    query = query.order_by(PipelineRunRow.start_time.desc(), PipelineRunRow.id)
    query = query.offset(offset).limit(limit)
    return [_pipeline_run(row, project, ()) for row in session.scalars(query)]
