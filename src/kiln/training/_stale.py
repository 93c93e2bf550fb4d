"""Trials whose process died: found, marked FAILED, and queued again.

A running trial names its owner (host, pid, the process's start time) and
carries a heartbeat. It is dead when its owner is on this host and gone,
or when its heartbeat is older than the grace period (an owner on another
host). A dead trial is failed together with its run, and — until its
retries are spent — a WAITING copy with the same parameters is queued,
which the next free worker takes. The dead trial then no longer counts
against the study's budget, so a killed and resumed study runs exactly
the trials it was asked for: none lost, none twice.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db._base import utcnow
from kiln.db.tables.training import TuningStudyRow, TuningTrialRow
from kiln.training._trial_rows import ProcessIdentity, dumps, frozen_trial
from kiln.training._trial_runs import end_trial_run

if TYPE_CHECKING:
    from kiln.training._storage import KilnStorage

__all__ = ["RETRY_OF", "fail_and_retry", "fail_dead_trials"]

#: System attributes of a retry: the number of the trial it re-runs, and its attempt.
RETRY_OF = "kiln:retry_of"
ATTEMPT = "kiln:attempt"


def _dead(row: TuningTrialRow, grace: float) -> str | None:
    owner = ProcessIdentity(row.owner_host, row.owner_pid or 0, row.owner_started or 0.0)
    alive = owner.is_alive() if row.owner_pid is not None else None
    if alive is False:
        return f"its process (pid {row.owner_pid} on {row.owner_host}) died"
    beat = row.heartbeat_at or row.datetime_start
    if alive is None and beat is not None and utcnow() - beat > timedelta(seconds=grace):
        where = f"pid {row.owner_pid} on {row.owner_host}"
        return f"its process ({where}) sent no heartbeat for {grace:g} s"
    return None


def fail_dead_trials(storage: KilnStorage, study_id: int, *, grace: float, max_retries: int) -> int:
    """Fail the dead running trials of a study and queue their retries; how many were dead."""

    def dead(session: Session) -> list[tuple[int, str]]:
        rows = session.scalars(
            select(TuningTrialRow).where(
                TuningTrialRow.study_id == study_id, TuningTrialRow.state == "RUNNING"
            )
        )
        return [
            (row.id, f"trial {row.number} failed: {reason}")
            for row in rows
            if (reason := _dead(row, grace)) is not None
        ]

    failed = 0
    for trial_id, failure in storage.context.db.read(dead):
        if fail_and_retry(storage, trial_id, failure, max_retries=max_retries):
            failed += 1
    return failed


def fail_and_retry(storage: KilnStorage, trial_id: int, failure: str, *, max_retries: int) -> bool:
    """Fail running trial ``trial_id`` and end its run; queue a retry unless spent.

    False when the trial was no longer running (another process got there first).
    """

    def write(session: Session) -> bool:
        row = session.get(TuningTrialRow, trial_id, with_for_update=True)
        if row is None or row.state != "RUNNING":
            return False
        attrs = json.loads(row.system_attrs)
        row.state = "FAIL"
        row.datetime_complete = utcnow()
        row.failure = failure
        row.system_attrs = dumps({**attrs, "fail_reason": failure})
        if row.run_id is not None:
            end_trial_run(session, storage.project, row.run_id, failure)
        attempt = int(attrs.get(ATTEMPT, 1))
        if attempt > max_retries:
            return True
        session.get(TuningStudyRow, row.study_id, with_for_update=True)
        last = session.scalar(
            select(func.max(TuningTrialRow.number)).where(TuningTrialRow.study_id == row.study_id)
        )
        retry = TuningTrialRow(
            study_id=row.study_id,
            number=(last or 0) + 1,
            state="WAITING",
            system_attrs=dumps(
                {
                    "fixed_params": frozen_trial(row, {}).params,
                    RETRY_OF: attrs.get(RETRY_OF, row.number),
                    ATTEMPT: attempt + 1,
                }
            ),
            user_attrs=row.user_attrs,
        )
        session.add(retry)
        row.retried_by = retry.number
        return True

    done: bool = storage.context.db.run(write)
    return done
