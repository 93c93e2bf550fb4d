"""Each trial as a tracked run: created with the trial, given its results when it ends.

Both happen inside the storage's own transaction, so a trial and its run
never disagree. Writing to the run is kept apart in a savepoint: a param
the objective already logged under another value must not cost the trial
its state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.errors import KilnError
from kiln.tracking._entities import Metric, Run, RunStatus
from kiln.tracking._runs import create_run, finish_run, log_batch, now_ms

__all__ = [
    "StudyRuns",
    "end_trial_run",
    "log_trial_result",
    "start_trial_run",
    "value_metric_names",
]


@dataclass(frozen=True, slots=True)
class StudyRuns:
    """Where a study's trial runs go: the parent run and its experiment."""

    project: str
    study: str
    parent_run_id: str
    experiment_id: str


def start_trial_run(session: Session, runs: StudyRuns, number: int) -> Run:
    """Create the run of trial ``number`` (a child of the study's run)."""
    return create_run(
        session,
        runs.project,
        runs.experiment_id,
        name=f"{runs.study}-trial-{number}",
        parent_run_id=runs.parent_run_id,
        tags={"kiln.study": runs.study, "kiln.trial.number": str(number)},
    )


def value_metric_names(values: Sequence[float] | None, names: Sequence[str] | None) -> list[str]:
    """The metric names of a trial's values on its run: the study's names, else value(_i)."""
    if not values:
        return []
    if names and len(names) == len(values):
        return [str(name) for name in names]
    return ["value"] if len(values) == 1 else [f"value_{i}" for i in range(len(values))]


def log_trial_result(
    session: Session,
    project: str,
    run_id: str,
    *,
    state: str,
    values: Sequence[float] | None,
    params: dict[str, Any],
    duration_s: float | None,
    metric_names: Sequence[str] | None = None,
) -> None:
    """The trial's parameters, final values and duration on its run (while it is running)."""
    now = now_ms()
    metrics = [
        Metric(key, float(value), 0, now)
        for key, value in zip(value_metric_names(values, metric_names), values or (), strict=True)
    ]
    if duration_s is not None:
        metrics.append(Metric("duration_s", duration_s, 0, now))
    items = [(name, str(value)) for name, value in params.items()]
    try:
        with session.begin_nested():
            log_batch(
                session,
                project,
                run_id,
                metrics=metrics,
                params=items,
                tags=[("kiln.trial.state", state)],
            )
    except KilnError:  # a param logged under another value, or the run already ended
        with session.begin_nested():
            log_batch(session, project, run_id, metrics=metrics, tags=[("kiln.trial.state", state)])


def log_intermediate(session: Session, project: str, run_id: str, step: int, value: float) -> None:
    """A reported value as the run's ``intermediate_value`` metric at ``step``."""
    try:
        with session.begin_nested():
            log_batch(
                session,
                project,
                run_id,
                metrics=[Metric("intermediate_value", value, step, now_ms())],
            )
    except KilnError:  # the run was ended under the trial (its process was declared dead)
        pass


def end_trial_run(session: Session, project: str, run_id: str, failure: str) -> None:
    """End the run of a trial whose process died (nobody else will)."""
    try:
        with session.begin_nested():
            finish_run(session, project, run_id, RunStatus.KILLED, failure)
    except KilnError:  # already ended, or deleted
        pass
