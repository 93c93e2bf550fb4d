"""Studies as Kiln records: prepared for a tuning run, and read for the CLI, REST API and UI.

Rows become :class:`StudySummary` and :class:`TrialSummary`: plain data,
with the best trial worked out here (the best value for one objective, the
Pareto front for several); Optuna is imported only to turn stored
parameters back into the values the objective saw.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db._base import utcnow
from kiln.db.tables.training import TuningIntermediateValueRow, TuningStudyRow, TuningTrialRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking._names import check_name
from kiln.training._trial_rows import distribution

__all__ = [
    "StudySummary",
    "TrialSummary",
    "check_study_name",
    "delete_study",
    "get_study",
    "list_studies",
    "prepare_study",
    "set_parent_run",
]

NAME_LENGTH = 128


def check_study_name(name: Any) -> str:
    """A study name: printable, no slashes, up to 128 characters."""
    check_name(name, what="study name", field="study")
    if len(name) > NAME_LENGTH:
        raise InvalidInput(
            f"study name is {len(name)} characters long; the limit is {NAME_LENGTH}",
            field="study",
        )
    return str(name)


@dataclass(frozen=True)
class TrialSummary:
    """One trial as stored: state, values, parameters (as the objective saw them), its run."""

    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    started_at: datetime | None
    completed_at: datetime | None
    run_id: str | None
    failure: str | None
    retry_of: int | None
    retried_by: int | None
    intermediate: dict[int, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "values": self.values,
            "params": self.params,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "duration_s": self.duration_s,
            "run_id": self.run_id,
            "failure": self.failure,
            "retry_of": self.retry_of,
            "retried_by": self.retried_by,
            "intermediate": {str(step): value for step, value in self.intermediate.items()},
        }


@dataclass(frozen=True)
class StudySummary:
    """A study: its directions, settings, trial counts, best trial(s) and (on request) trials."""

    name: str
    directions: list[str]
    metric_names: list[str] | None
    parent_run_id: str | None
    created_at: datetime
    settings: dict[str, Any]
    states: dict[str, int]
    best: list[TrialSummary]
    trials: list[TrialSummary] = field(default_factory=list)

    @property
    def n_trials(self) -> int:
        return sum(self.states.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "directions": self.directions,
            "metric_names": self.metric_names,
            "parent_run_id": self.parent_run_id,
            "created_at": self.created_at.isoformat(),
            "settings": self.settings,
            "states": self.states,
            "n_trials": self.n_trials,
            "best": [trial.to_dict() for trial in self.best],
            "trials": [trial.to_dict() for trial in self.trials],
        }


def _study_row(session: Session, project: str, name: str) -> TuningStudyRow:
    row = session.scalar(
        select(TuningStudyRow).where(
            TuningStudyRow.project_id == project_id(session, project),
            TuningStudyRow.name == name,
        )
    )
    if row is None:
        raise NotFound(
            f"no study {name!r} in project {project!r}; `kiln tune list` shows the studies"
        )
    return row


def prepare_study(
    session: Session,
    project: str,
    name: str,
    directions: list[str],
    settings: dict[str, Any],
    *,
    user: str = "",
) -> tuple[int, str | None]:
    """Create study ``name`` or check that it has the same directions; ``(id, parent run)``."""
    owner = project_id(session, project)
    row = session.scalar(
        select(TuningStudyRow)
        .where(TuningStudyRow.project_id == owner, TuningStudyRow.name == name)
        .with_for_update()
    )
    if row is None:
        row = TuningStudyRow(
            project_id=owner,
            name=name,
            directions=json.dumps(directions),
            settings=json.dumps(settings),
            created_at=utcnow(),
            created_by=user,
        )
        session.add(row)
        session.flush()
        return row.id, None
    stored = json.loads(row.directions)
    if stored != directions:
        raise Conflict(
            f"study {name!r} exists with direction(s) {', '.join(stored)}, not "
            f"{', '.join(directions)}: pass the same direction to resume it, or name a new study"
        )
    row.settings = json.dumps(settings)
    return row.id, row.parent_run_id


def set_parent_run(session: Session, study_id: int, run_id: str) -> None:
    row = session.get(TuningStudyRow, study_id)
    if row is None:
        raise NotFound(f"study {study_id} was deleted while it started")
    row.parent_run_id = run_id


def _trial(row: TuningTrialRow, intermediate: dict[int, float]) -> TrialSummary:
    distributions = {n: distribution(text) for n, text in json.loads(row.distributions).items()}
    params = {
        name: distributions[name].to_external_repr(value)
        for name, value in json.loads(row.params).items()
    }
    system = json.loads(row.system_attrs)
    retry_of = system.get("kiln:retry_of")
    return TrialSummary(
        number=row.number,
        state=row.state,
        values=json.loads(row.values) if row.values else None,
        params=params,
        started_at=row.datetime_start,
        completed_at=row.datetime_complete,
        run_id=row.run_id,
        failure=row.failure,
        retry_of=int(retry_of) if retry_of is not None else None,
        retried_by=row.retried_by,
        intermediate=intermediate,
    )


def _dominates(a: list[float], b: list[float], signs: list[float]) -> bool:
    pairs = [(x * s, y * s) for x, y, s in zip(a, b, signs, strict=True)]
    return all(x <= y for x, y in pairs) and any(x < y for x, y in pairs)


def best_trials(trials: list[TrialSummary], directions: list[str]) -> list[TrialSummary]:
    """The best complete trial (one objective) or the Pareto front (several)."""
    done = [t for t in trials if t.state == "COMPLETE" and t.values]
    if not done:
        return []
    signs = [1.0 if d == "minimize" else -1.0 for d in directions]
    if len(directions) == 1:
        finite = [t for t in done if t.values and not math.isnan(t.values[0])]
        return [min(finite, key=lambda t: signs[0] * (t.values or [0.0])[0])] if finite else []
    return [
        t
        for t in done
        if not any(_dominates(o.values or [], t.values or [], signs) for o in done if o is not t)
    ]


def _summary(session: Session, row: TuningStudyRow, *, with_trials: bool) -> StudySummary:
    trial_rows = list(
        session.scalars(
            select(TuningTrialRow)
            .where(TuningTrialRow.study_id == row.id)
            .order_by(TuningTrialRow.number)
        )
    )
    intermediate: dict[int, dict[int, float]] = {r.id: {} for r in trial_rows}
    if with_trials and trial_rows:
        for point in session.scalars(
            select(TuningIntermediateValueRow)
            .join(TuningTrialRow, TuningTrialRow.id == TuningIntermediateValueRow.trial_id)
            .where(TuningTrialRow.study_id == row.id)
            .order_by(TuningIntermediateValueRow.step)
        ):
            intermediate[point.trial_id][point.step] = (
                math.nan if point.value is None else point.value
            )
    trials = [_trial(r, intermediate[r.id]) for r in trial_rows]
    directions = json.loads(row.directions)
    names = json.loads(row.system_attrs).get("study:metric_names")
    return StudySummary(
        name=row.name,
        directions=directions,
        metric_names=list(names) if names else None,
        parent_run_id=row.parent_run_id,
        created_at=row.created_at,
        settings=json.loads(row.settings),
        states=dict(Counter(t.state for t in trials)),
        best=best_trials(trials, directions),
        trials=trials if with_trials else [],
    )


def get_study(session: Session, project: str, name: str, *, trials: bool = True) -> StudySummary:
    """Study ``name`` with its best trial(s) and, by default, every trial."""
    return _summary(session, _study_row(session, project, name), with_trials=trials)


def list_studies(session: Session, project: str) -> list[StudySummary]:
    """The project's studies, newest first, with counts and best trials (no trial lists)."""
    rows = session.scalars(
        select(TuningStudyRow)
        .where(TuningStudyRow.project_id == project_id(session, project))
        .order_by(TuningStudyRow.created_at.desc(), TuningStudyRow.id.desc())
    )
    return [_summary(session, row, with_trials=False) for row in rows]


def count_trials(session: Session, study_id: int) -> dict[str, int]:
    """Trials of a study per state (what a progress bar polls)."""
    rows = session.execute(
        select(TuningTrialRow.state, func.count())
        .where(TuningTrialRow.study_id == study_id, TuningTrialRow.retried_by.is_(None))
        .group_by(TuningTrialRow.state)
    )
    return {state: int(count) for state, count in rows}


def delete_study(session: Session, project: str, name: str) -> None:
    """Delete a study and its trials (their runs stay, as runs)."""
    session.delete(_study_row(session, project, name))
