"""The trial loop one worker runs: ask, run the objective in the trial's run, tell.

Every worker — this process, a local worker process, a Ray task — runs
the same loop against the same study in the metadata store until the
study's budget is spent or the deadline passes. The objective runs with
the trial's tracked run active, so ``kiln.log_metric`` and
``kiln.checkpoint.save`` inside it land on the trial. An objective that
raises fails only its trial; a KeyboardInterrupt fails the trial as
interrupted, queues it again, and stops the loop.
"""

from __future__ import annotations

import contextvars
import logging
import math
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

    from kiln.config import Settings
    from kiln.context import Context
    from kiln.training._samplers import PrunerChoice, SamplerChoice
    from kiln.training._storage import KilnStorage

__all__ = ["LoopSpec", "current_trial", "report", "run_trials"]

_log = logging.getLogger("kiln.training")
_current: contextvars.ContextVar[optuna.Trial | None] = contextvars.ContextVar(
    "kiln_current_trial", default=None
)


@dataclass
class LoopSpec:
    """Everything a worker needs to run trials of a study (picklable with cloudpickle)."""

    settings: Settings
    project: str
    study: str
    objective: Callable[[Any], Any]
    #: The parsed search space; with it the objective is called with a dict of values.
    distributions: dict[str, BaseDistribution] | None
    sampler: SamplerChoice
    pruner: PrunerChoice
    budget: int
    deadline: float | None
    max_retries: int
    heartbeat_interval: float
    stale_after: float
    worker: int = 0
    env: dict[str, str] = field(default_factory=dict)


def current_trial() -> optuna.Trial:
    """The trial whose objective is running here, or ``Conflict`` outside one."""
    trial = _current.get()
    if trial is None:
        raise Conflict("no trial is running: call this inside an objective run by kiln.tune")
    return trial


def report(value: float, step: int) -> None:
    """Report an intermediate ``value`` at ``step``; raises ``optuna.TrialPruned`` to stop early.

    The same in both calling styles: an objective given ``params`` (a search
    space) and one given the Optuna ``trial``.
    """
    import optuna

    trial = current_trial()
    trial.report(value, step)
    if trial.should_prune():
        raise optuna.TrialPruned(f"pruned at step {step}")


class _Heartbeat(threading.Thread):
    """Stamps this worker's running trial every ``interval`` seconds."""

    def __init__(self, storage: KilnStorage, interval: float) -> None:
        super().__init__(name="kiln-tune-heartbeat", daemon=True)
        self.storage = storage
        self.interval = interval
        self.trials: list[int] = []
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.heartbeat(list(self.trials))
            except Exception as exc:  # the store is away for a moment: the next beat retries
                _log.warning("heartbeat of trials %s failed: %s", self.trials, exc)

    def stop(self) -> None:
        self._stop.set()


def _values(result: Any, objectives: int) -> list[float]:
    items: Sequence[Any] = result if isinstance(result, Sequence) else [result]
    if isinstance(result, str | bytes) or len(items) != objectives:
        raise InvalidInput(
            f"the objective returned {result!r}; it must return {objectives} number(s), one per "
            "direction"
        )
    values = []
    for item in items:
        try:
            value = float(item)
        except (TypeError, ValueError):
            raise InvalidInput(f"the objective returned {item!r}, which is not a number") from None
        if math.isnan(value):
            raise InvalidInput("the objective returned NaN")
        values.append(value)
    return values


def _run_one(
    study: optuna.Study, storage: KilnStorage, spec: LoopSpec, trial: optuna.Trial
) -> FrozenTrial:
    import optuna
    from optuna.trial import TrialState

    from kiln.tracking import RunStatus, activate_run

    run = storage.take_run(trial._trial_id)
    active = activate_run(run) if run is not None else None
    token = _current.set(trial)
    state, values, failure = TrialState.COMPLETE, None, None
    try:
        result = spec.objective(trial.params if spec.distributions is not None else trial)
        values = _values(result, len(study.directions))
    except optuna.TrialPruned:
        state = TrialState.PRUNED
    except KeyboardInterrupt:
        if active is not None:
            active.end(RunStatus.KILLED, "interrupted (KeyboardInterrupt)")
        raise
    except Exception:
        state, failure = TrialState.FAIL, traceback.format_exc()
        _log.warning("trial %d of study %r failed:\n%s", trial.number, spec.study, failure)
    finally:
        _current.reset(token)
    if failure is not None:
        storage.note_failure(trial._trial_id, failure)
    frozen = study.tell(trial, values, state=state)
    if active is not None:
        active.end(RunStatus.FAILED if failure else RunStatus.FINISHED, failure)
    return frozen


def _interrupted(storage: KilnStorage, trial: optuna.Trial, spec: LoopSpec) -> None:
    """Fail an interrupted trial and queue it again: the next run of the study re-runs it."""
    from kiln.training._stale import fail_and_retry

    fail_and_retry(
        storage,
        trial._trial_id,
        f"trial {trial.number} was interrupted",
        max_retries=spec.max_retries,
    )


def run_trials(
    context: Context,
    spec: LoopSpec,
    on_trial: Callable[[FrozenTrial], None] | None = None,
) -> int:
    """Run trials of ``spec.study`` until its budget is spent or the deadline passes."""
    import optuna

    from kiln.training._stale import fail_dead_trials
    from kiln.training._storage import BudgetSpent, KilnStorage

    storage = KilnStorage(context, spec.project)
    study_id = storage.get_study_id_from_name(spec.study)
    storage.budgets[study_id] = spec.budget
    study = optuna.load_study(
        study_name=spec.study,
        storage=storage,
        sampler=spec.sampler.build(spec.worker),
        pruner=spec.pruner.build(),
    )
    heartbeat = _Heartbeat(storage, spec.heartbeat_interval)
    heartbeat.start()
    ran, checked = 0, 0.0
    try:
        while spec.deadline is None or time.time() < spec.deadline:
            if time.monotonic() - checked >= 1.0:
                fail_dead_trials(
                    storage, study_id, grace=spec.stale_after, max_retries=spec.max_retries
                )
                checked = time.monotonic()
            try:
                trial = study.ask(fixed_distributions=spec.distributions)
            except BudgetSpent:
                break
            storage.flush(trial._trial_id)
            heartbeat.trials = [trial._trial_id]
            try:
                frozen = _run_one(study, storage, spec, trial)
            except KeyboardInterrupt:
                _interrupted(storage, trial, spec)
                raise
            finally:
                heartbeat.trials = []
            ran += 1
            if on_trial is not None:
                on_trial(frozen)
    finally:
        heartbeat.stop()
    return ran
