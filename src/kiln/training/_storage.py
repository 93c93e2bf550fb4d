"""``KilnStorage``: Optuna's storage interface over Kiln's metadata store.

Why not Optuna's own ``RDBStorage`` on the same URL: its schema has its own
``alembic_version`` table, which is Kiln's too. Here studies and trials are
Kiln tables (``kiln.db.tables.training``), every trial is created together
with its tracked run, and its results reach the run in the same
transaction as its state.

Speed: a finished trial never changes, so each process keeps the finished
trials it has read and asks the database only for newer or unfinished ones
(the samplers read all trials before every suggestion). Parameters
suggested in this process are kept until the trial's next write
(:meth:`flush`, a report, or its end), so suggesting five values costs one
transaction, not five.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Container, Sequence
from typing import TYPE_CHECKING, Any

from optuna.distributions import BaseDistribution, check_distribution_compatibility
from optuna.distributions import distribution_to_json as to_json
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kiln.db._base import utcnow
from kiln.db.tables.training import TuningIntermediateValueRow, TuningStudyRow, TuningTrialRow
from kiln.errors import KilnError
from kiln.training._study_records import StudyRecords, _Study
from kiln.training._trial_rows import (
    FINISHED_STATES,
    aware,
    dumps,
    frozen_trial,
    this_process,
)
from kiln.training._trial_runs import (
    log_intermediate,
    log_trial_result,
    start_trial_run,
)

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.tracking import Run

__all__ = ["BudgetSpent", "KilnStorage"]

_METRIC_NAMES = "study:metric_names"


class BudgetSpent(KilnError):
    """The study has as many trials as it was asked for; no new one is started."""


class KilnStorage(StudyRecords, BaseStorage):
    """Optuna studies of one Kiln project, kept in the context's metadata store.

    ``budgets`` (study id → number of trials) makes trial creation stop at a
    study's budget: retries of trials whose process died do not count.
    """

    def __init__(self, context: Context, project: str) -> None:
        self.context = context
        self.project = project
        self.budgets: dict[int, int] = {}
        self._studies: dict[int, _Study] = {}
        self._trial_study: dict[int, int] = {}
        self._pending: dict[int, dict[str, tuple[float, BaseDistribution]]] = {}
        self._failures: dict[int, str] = {}
        #: Runs of the trials started here, until their objective takes them.
        self._new_runs: dict[int, Run] = {}
        #: Running trials owned here: their rows as last written, and reported values. All
        #: their writes go through this object, so reading them needs no query.
        self._owned: dict[int, TuningTrialRow] = {}
        self._reported: dict[int, dict[int, float | None]] = {}
        self._owner = this_process()

    # -- trials: writes ---------------------------------------------------------------------

    def _metric_names(self, session: Session, study_id: int) -> list[str] | None:
        row = session.get(TuningStudyRow, study_id)
        names = json.loads(row.system_attrs).get(_METRIC_NAMES) if row is not None else None
        return list(names) if names else None

    def _claim(self, session: Session, row: TuningTrialRow, study: _Study) -> Run | None:
        """Make ``row`` this process's running trial, with its new run."""
        now = utcnow()
        row.state = "RUNNING"
        row.datetime_start = row.datetime_start or now
        row.heartbeat_at = now
        row.owner_host = self._owner.host
        row.owner_pid = self._owner.pid
        row.owner_started = self._owner.started
        if row.run_id is not None or study.runs is None:
            return None
        run = start_trial_run(session, study.runs, row.number)
        row.run_id = run.id
        return run

    def take_run(self, trial_id: int) -> Run | None:
        """The run created with trial ``trial_id`` here (once: the objective makes it active)."""
        return self._new_runs.pop(trial_id, None)

    def _keep(self, row: TuningTrialRow, run: Run | None = None) -> None:
        """Remember a running trial this process owns (or forget it once it ended)."""
        if run is not None:
            self._new_runs[row.id] = run
        if row.state == "RUNNING" and row.owner_pid == self._owner.pid:
            self._owned[row.id] = row
            self._reported.setdefault(row.id, {})
            return
        self._owned.pop(row.id, None)
        reported = self._reported.pop(row.id, None)
        study = self._studies.get(row.study_id)
        if row.state in FINISHED_STATES and reported is not None and study is not None:
            study.finished[row.id] = frozen_trial(row, reported)

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        study = self._study(study_id)
        budget = self.budgets.get(study_id) if template_trial is None else None

        def create(session: Session) -> int:
            session.get(TuningStudyRow, study_id, with_for_update=True)  # one creator at a time
            if budget is not None:
                counted = session.scalar(
                    select(func.count())
                    .select_from(TuningTrialRow)
                    .where(TuningTrialRow.study_id == study_id, TuningTrialRow.retried_by.is_(None))
                )
                if (counted or 0) >= budget:
                    raise BudgetSpent(f"study {study.name!r} has its {budget} trials")
            last = session.scalar(
                select(func.max(TuningTrialRow.number)).where(TuningTrialRow.study_id == study_id)
            )
            row = TuningTrialRow(study_id=study_id, number=0 if last is None else last + 1)
            self._fill(row, template_trial)
            run = self._claim(session, row, study) if row.state == "RUNNING" else None
            session.add(row)
            session.flush()
            self._keep(row, run)
            if template_trial is not None:
                session.add_all(
                    TuningIntermediateValueRow(
                        trial_id=row.id, step=step, value=None if math.isnan(value) else value
                    )
                    for step, value in template_trial.intermediate_values.items()
                )
            return row.id

        trial_id: int = self._run(create)
        self._trial_study[trial_id] = study_id
        return trial_id

    @staticmethod
    def _fill(row: TuningTrialRow, template: FrozenTrial | None) -> None:
        if template is None:
            row.state = "RUNNING"
            return
        row.state = template.state.name
        row.values = dumps(template.values) if template.values is not None else None
        row.params = dumps(
            {n: template.distributions[n].to_internal_repr(v) for n, v in template.params.items()}
        )
        row.distributions = dumps({n: to_json(d) for n, d in template.distributions.items()})
        row.user_attrs = dumps(template.user_attrs)
        row.system_attrs = dumps(template.system_attrs)
        row.datetime_start = aware(template.datetime_start)
        row.datetime_complete = aware(template.datetime_complete)

    def _updatable(self, session: Session, trial_id: int) -> TuningTrialRow:
        row = session.get(TuningTrialRow, trial_id, with_for_update=True)
        if row is None:
            raise KeyError(f"no trial with id {trial_id}")
        if row.state in FINISHED_STATES:
            raise UpdateFinishedTrialError(
                f"trial {row.number} is {row.state} and cannot be changed"
            )
        self._trial_study.setdefault(trial_id, row.study_id)
        return row

    def _write_pending(self, row: TuningTrialRow) -> None:
        pending = self._pending.pop(row.id, None)
        if not pending:
            return
        params = json.loads(row.params)
        distributions = json.loads(row.distributions)
        for name, (value, dist) in pending.items():
            params[name] = value
            distributions[name] = to_json(dist)
        row.params = dumps(params)
        row.distributions = dumps(distributions)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        study_id = self._trial_study.get(trial_id)
        if study_id is None:  # not created here: write through
            self._pending.setdefault(trial_id, {})[param_name] = (
                param_value_internal,
                distribution,
            )
            self.flush(trial_id)
            return
        for trial in self._studies[study_id].finished.values():
            earlier = trial.distributions.get(param_name)
            if earlier is not None:
                check_distribution_compatibility(earlier, distribution)
                break
        self._pending.setdefault(trial_id, {})[param_name] = (param_value_internal, distribution)

    def flush(self, trial_id: int) -> None:
        """Write the parameters suggested for ``trial_id`` that are still held here."""
        if not self._pending.get(trial_id):
            return

        def write(session: Session) -> None:
            row = self._updatable(session, trial_id)
            self._write_pending(row)
            self._keep(row)

        self._run(write)

    def note_failure(self, trial_id: int, failure: str) -> None:
        """Why ``trial_id`` failed, stored with its state by the next ``set_trial_state_values``."""
        self._failures[trial_id] = failure

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        def write(session: Session) -> bool:
            row = self._updatable(session, trial_id)
            study = self._study(row.study_id)
            if state == TrialState.RUNNING:
                if row.state != "WAITING":
                    return False
                self._keep(row, self._claim(session, row, study))
                return True
            self._write_pending(row)
            row.state = state.name
            if values is not None:
                row.values = dumps(list(values))
            if state.is_finished():
                row.datetime_complete = utcnow()
                row.failure = self._failures.get(trial_id)
                if row.run_id is not None:
                    self._log_result(session, row)
            self._keep(row)
            return True

        changed: bool = self._run(write)
        self._failures.pop(trial_id, None)
        return changed

    def _log_result(self, session: Session, row: TuningTrialRow) -> None:
        assert row.run_id is not None
        trial = frozen_trial(row, {})
        start, end = row.datetime_start, row.datetime_complete
        log_trial_result(
            session,
            self.project,
            row.run_id,
            state=row.state,
            values=trial.values,
            params=trial.params,
            duration_s=(end - start).total_seconds() if start and end else None,
            metric_names=self._metric_names(session, row.study_id),
        )

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        def write(session: Session) -> None:
            row = self._updatable(session, trial_id)
            self._write_pending(row)
            value = None if math.isnan(intermediate_value) else float(intermediate_value)
            session.merge(TuningIntermediateValueRow(trial_id=trial_id, step=step, value=value))
            if row.run_id is not None:
                log_intermediate(session, self.project, row.run_id, step, intermediate_value)
            if trial_id in self._reported:
                self._reported[trial_id][step] = value
            self._keep(row)

        self._run(write)

    def _set_trial_attr(self, trial_id: int, column: str, key: str, value: Any) -> None:
        def write(session: Session) -> None:
            row = self._updatable(session, trial_id)
            self._write_pending(row)
            attrs = json.loads(getattr(row, column))
            attrs[key] = value
            setattr(row, column, dumps(attrs))
            self._keep(row)

        self._run(write)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "user_attrs", key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._set_trial_attr(trial_id, "system_attrs", key, value)

    def heartbeat(self, trial_ids: Sequence[int]) -> None:
        """Stamp the running trials of this process as alive."""
        if not trial_ids:
            return

        def write(session: Session) -> None:
            session.execute(
                update(TuningTrialRow)
                .where(TuningTrialRow.id.in_(trial_ids), TuningTrialRow.state == "RUNNING")
                .values(heartbeat_at=utcnow())
            )

        self._run(write)

    # -- trials: reads ----------------------------------------------------------------------

    def _read(self, session: Session, where: Any) -> list[FrozenTrial]:
        rows = list(session.scalars(select(TuningTrialRow).where(where)))
        values: dict[int, dict[int, float | None]] = {row.id: {} for row in rows}
        if rows:
            for point in session.scalars(
                select(TuningIntermediateValueRow).where(
                    TuningIntermediateValueRow.trial_id.in_(list(values))
                )
            ):
                values[point.trial_id][point.step] = point.value
        return [frozen_trial(row, values[row.id], self._pending.get(row.id)) for row in rows]

    def get_trial(self, trial_id: int) -> FrozenTrial:
        study_id = self._trial_study.get(trial_id)
        if study_id is not None:
            cached = self._studies[study_id].finished.get(trial_id)
            if cached is not None:
                return cached
        owned = self._owned.get(trial_id)
        if owned is not None:
            return frozen_trial(owned, self._reported[trial_id], self._pending.get(trial_id))
        found = self.context.db.read(self._read, TuningTrialRow.id == trial_id)
        if not found:
            raise KeyError(f"no trial with id {trial_id}")
        return found[0]

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        study = self._study(study_id)
        stale = list(study.unfinished)
        condition = (TuningTrialRow.study_id == study_id) & (
            (TuningTrialRow.id > study.seen) | TuningTrialRow.id.in_(stale)
        )
        fresh = self.context.db.read(self._read, condition)
        unfinished: dict[int, FrozenTrial] = {}
        for trial in fresh:
            self._trial_study[trial._trial_id] = study_id
            study.seen = max(study.seen, trial._trial_id)
            if trial.state.is_finished():
                study.finished[trial._trial_id] = trial
            else:
                unfinished[trial._trial_id] = trial
        study.unfinished = set(unfinished)
        trials = sorted([*study.finished.values(), *unfinished.values()], key=_trial_id)
        if states is not None:
            trials = [trial for trial in trials if trial.state in states]
        return copy.deepcopy(trials) if deepcopy else trials


def _trial_id(trial: FrozenTrial) -> int:
    return trial._trial_id
