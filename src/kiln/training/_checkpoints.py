"""Checkpoint records: one row per run and step naming a stored blob, and their retention.

Plain functions taking a Session first. The caller writes the bytes to the
artifact store before :func:`record_checkpoint`, so a crash in between
leaves at most an unreferenced blob (``kiln gc`` collects it), never a row
without its bytes.

Retention runs in the transaction that records the checkpoint, and the
saves of one run take turns: the transaction locks the run's row first on
PostgreSQL, and SQLite writers hold the database lock. So two processes
saving at once lose nothing and prune from the same, complete view. (Even
without the turns, pruning only deletes rows it sees outside what it keeps,
and more rows only push a row further out.)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import CheckpointRow, ExperimentRow, ProjectRow, RunRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking import LifecycleStage, RunStatus
from kiln.training._checkpoint_entity import MODES, Checkpoint, Mode

__all__ = [
    "Retention",
    "check_save",
    "check_step",
    "delete_checkpoint",
    "find_checkpoint",
    "get_checkpoint",
    "list_checkpoints",
    "record_checkpoint",
]

#: Steps are stored as 64-bit integers.
MAX_STEP = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Retention:
    """A checked save: the step, its score, and which checkpoints to keep afterwards."""

    step: int
    metric: float | None
    mode: Mode | None
    keep_last: int | None
    keep_best: int | None


def check_save(
    step: object,
    metric: object = None,
    mode: object = "min",
    keep_last: object = None,
    keep_best: object = None,
) -> Retention:
    """Validate what a save was given; ``InvalidInput`` names the field at fault."""
    checked_step = check_step(step)
    if mode not in MODES:
        raise InvalidInput(f"mode must be 'min' or 'max', got {mode!r}", field="mode")
    score: float | None = None
    if metric is not None:
        if isinstance(metric, str | bytes | bool):
            raise InvalidInput(f"metric must be a number, got {metric!r}", field="metric")
        try:
            score = float(cast(Any, metric))
        except (TypeError, ValueError):
            raise InvalidInput(f"metric must be a number, got {metric!r}", field="metric") from None
        if not math.isfinite(score):
            raise InvalidInput(
                f"metric must be finite to rank checkpoints, got {score}; save without a "
                "metric (or with a finite stand-in) when the score is undefined",
                field="metric",
            )
    last = None if keep_last is None else _count(keep_last, "keep_last", minimum=1)
    best = None if keep_best is None else _count(keep_best, "keep_best", minimum=1)
    if best is not None and score is None:
        raise InvalidInput(
            "keep_best ranks checkpoints by their metric: pass metric= with this save",
            field="keep_best",
        )
    return Retention(checked_step, score, mode if score is not None else None, last, best)


def record_checkpoint(
    session: Session,
    project: str,
    run_id: str,
    retention: Retention,
    *,
    digest: str,
    size: int,
    format: str,
) -> Checkpoint:
    """Point ``run_id``'s checkpoint at ``retention.step`` to a stored blob, then prune.

    Saving a step again replaces it. Afterwards the run keeps the newest
    ``keep_last`` checkpoints by step (the newest one at least, so a resume
    never goes back), the best ``keep_best`` by metric, and the one just
    saved; with neither given it keeps everything.
    """
    _writable_run(session, project, run_id)
    table = CheckpointRow.__table__
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(table)
    values = {
        "run_id": run_id,
        "step": retention.step,
        "digest": digest,
        "size": size,
        "format": format,
        "metric": retention.metric,
        "mode": retention.mode,
        "created_at": utcnow(),
    }
    replaced = {key: upsert.excluded[key] for key in values if key not in ("run_id", "step")}
    session.execute(
        upsert.on_conflict_do_update(index_elements=[table.c.run_id, table.c.step], set_=replaced),
        [values],
    )
    if retention.keep_last is not None or retention.keep_best is not None:
        _prune(session, run_id, retention)
    row = session.scalars(
        select(CheckpointRow).where(
            CheckpointRow.run_id == run_id, CheckpointRow.step == retention.step
        )
    ).one()
    return _entity(row)


def list_checkpoints(session: Session, project: str, run_id: str) -> list[Checkpoint]:
    """A run's checkpoints, oldest step first."""
    _run(session, project, run_id)
    rows = session.scalars(
        select(CheckpointRow).where(CheckpointRow.run_id == run_id).order_by(CheckpointRow.step)
    )
    return [_entity(row) for row in rows]


def find_checkpoint(
    session: Session,
    project: str,
    run_id: str,
    step: int | None = None,
    *,
    best: bool = False,
) -> Checkpoint | None:
    """The checkpoint at ``step``, else the best (``best=True``), else the newest; or None.

    The best is ranked by the mode of the newest checkpoint saved with a
    metric; ties go to the newer step.
    """
    _run(session, project, run_id)
    query = select(CheckpointRow).where(CheckpointRow.run_id == run_id)
    if step is not None:
        return _entity_or_none(session.scalars(query.where(CheckpointRow.step == step)).first())
    if not best:
        newest = session.scalars(query.order_by(CheckpointRow.step.desc()).limit(1)).first()
        return _entity_or_none(newest)
    scored = query.where(CheckpointRow.metric.is_not(None))
    latest = session.scalars(scored.order_by(CheckpointRow.step.desc()).limit(1)).first()
    if latest is None:
        return None
    order = CheckpointRow.metric.asc() if latest.mode == "min" else CheckpointRow.metric.desc()
    found = session.scalars(scored.order_by(order, CheckpointRow.step.desc()).limit(1)).first()
    return _entity_or_none(found)


def delete_checkpoint(session: Session, project: str, run_id: str, step: int) -> Checkpoint:
    """Remove one checkpoint's record (its blob becomes garbage for ``kiln gc``)."""
    _run(session, project, run_id)
    row = session.scalars(
        select(CheckpointRow).where(CheckpointRow.run_id == run_id, CheckpointRow.step == step)
    ).first()
    if row is None:
        steps = _describe(_steps(session, run_id))
        raise NotFound(f"run {run_id} has no checkpoint at step {step}; it has {steps}")
    removed = _entity(row)
    session.delete(row)
    session.flush()
    return removed


def get_checkpoint(
    session: Session,
    project: str,
    run_id: str,
    step: int | None = None,
    *,
    best: bool = False,
) -> Checkpoint:
    """Like :func:`find_checkpoint`, but ``NotFound`` (saying what there is) instead of None."""
    found = find_checkpoint(session, project, run_id, step, best=best)
    if found is not None:
        return found
    steps = _describe(_steps(session, run_id))
    if step is not None:
        raise NotFound(f"run {run_id} has no checkpoint at step {step}; it has {steps}")
    if best:
        raise NotFound(
            f"run {run_id} has no checkpoint saved with a metric (it has {steps}); pass "
            "metric= to kiln.checkpoint.save to rank checkpoints"
        )
    raise NotFound(
        f"run {run_id} has no checkpoints yet; kiln.checkpoint.latest() returns None "
        "(or its default=) instead of raising"
    )


def check_step(step: object) -> int:
    """``step`` as an int, or ``InvalidInput`` (a checkpoint's step is 0 or more)."""
    return _count(step, "step", minimum=0)


def _prune(session: Session, run_id: str, retention: Retention) -> None:
    rows = session.execute(
        select(CheckpointRow.step, CheckpointRow.metric).where(CheckpointRow.run_id == run_id)
    ).all()
    newest_first = sorted((row.step for row in rows), reverse=True)
    keep = {retention.step, *newest_first[: retention.keep_last or 1]}
    if retention.keep_best is not None:
        sign = 1.0 if retention.mode == "min" else -1.0
        scored = sorted(
            (row for row in rows if row.metric is not None),
            key=lambda row: (sign * row.metric, -row.step),
        )
        keep.update(row.step for row in scored[: retention.keep_best])
    doomed = [row.step for row in rows if row.step not in keep]
    if doomed:
        session.execute(
            delete(CheckpointRow).where(
                CheckpointRow.run_id == run_id, CheckpointRow.step.in_(doomed)
            )
        )


def _run(session: Session, project: str, run_id: str, *, lock: bool = False) -> tuple[str, str]:
    """``(status, lifecycle_stage)`` of the run, or ``NotFound`` when it is not in ``project``.

    ``lock`` takes the run's row for the rest of the transaction on PostgreSQL
    (FOR NO KEY UPDATE: metric writes, which only reference the row, go on).
    SQLite writers hold the database lock already.
    """
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"run id {run_id!r} is not valid", field="run_id")
    query = (
        select(RunRow.status, RunRow.lifecycle_stage)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(RunRow.id == run_id, ProjectRow.name == project)
    )
    if lock:
        query = query.with_for_update(key_share=True, of=RunRow)
    found = session.execute(query).first()
    if found is None:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}", field="run_id")
    return str(found.status), str(found.lifecycle_stage)


def _writable_run(session: Session, project: str, run_id: str) -> None:
    status, stage = _run(session, project, run_id, lock=True)
    if stage != LifecycleStage.ACTIVE.value:
        raise Conflict(f"run {run_id} is deleted: restore it before saving checkpoints to it")
    if RunStatus(status).is_terminated:
        raise Conflict(
            f"run {run_id} is {status}: it takes no new checkpoints; resume it first "
            f"(kiln.start_run(run_id={run_id!r}))"
        )


def _count(value: object, field: str, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be an integer, got {value!r}", field=field)
    try:
        number = operator.index(cast(Any, value))
    except TypeError:
        raise InvalidInput(f"{field} must be an integer, got {value!r}", field=field) from None
    if number < minimum:
        raise InvalidInput(f"{field} must be at least {minimum}, got {number}", field=field)
    if number > MAX_STEP:
        raise InvalidInput(f"{field} must be at most {MAX_STEP}, got {number}", field=field)
    return number


def _steps(session: Session, run_id: str) -> list[int]:
    query = select(CheckpointRow.step).where(CheckpointRow.run_id == run_id)
    return list(session.scalars(query.order_by(CheckpointRow.step)))


def _describe(steps: Sequence[int]) -> str:
    if not steps:
        return "no checkpoints"
    shown = ", ".join(str(step) for step in steps[-10:])
    return f"checkpoints at steps {'…, ' if len(steps) > 10 else ''}{shown}"


def _entity_or_none(row: CheckpointRow | None) -> Checkpoint | None:
    return None if row is None else _entity(row)


def _entity(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        run_id=row.run_id,
        step=row.step,
        digest=row.digest,
        size=row.size,
        format=row.format,
        metric=row.metric,
        mode=cast(Mode | None, row.mode),
        created_at=row.created_at,
    )
