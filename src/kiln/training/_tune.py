"""``kiln.tune``: a hyperparameter search whose study lives in Kiln's metadata store.

The study is named (by default after the objective), so running the same
call again continues it: ``n_trials`` is the size of the study, not of this
call, trials whose process died are failed and run again, and a finished
study returns its result at once. The study's run is the parent of one run
per trial; when the search ends, its best trial, parameter importances and
a self-contained HTML report of the plots are recorded on that run.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.tracking import ActiveRun
    from kiln.training._result import TuningResult

__all__ = ["tune"]

RUNNERS = ("local", "ray")
_DIRECTIONS = ("minimize", "maximize")


def _directions(direction: str, directions: Sequence[str] | None) -> list[str]:
    chosen = [direction] if directions is None else list(directions)
    if not chosen:
        raise InvalidInput("directions is empty: give one per objective", field="directions")
    for item in chosen:
        if item not in _DIRECTIONS:
            field = "direction" if directions is None else "directions"
            raise InvalidInput(f"{item!r} is not 'minimize' or 'maximize'", field=field)
    return chosen


def _positive_int(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{field} must be a whole number of at least 1, got {value!r}", field=field
        )
    return value


def _timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidInput(f"timeout must be seconds above 0, got {timeout!r}", field="timeout")
    return float(timeout)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _parent_run(
    context: Context, study_id: int, stored: str | None, name: str, experiment: str | None
) -> ActiveRun:
    """The study's run: resumed when it exists, else started (nested under an active run)."""
    from kiln.tracking import active_run, start_run
    from kiln.training._studies import set_parent_run

    if stored is not None:
        try:
            return start_run(run_id=stored, capture_environment=False)
        except NotFound:  # the run was purged: the study gets a new one
            pass
    run = start_run(
        experiment=experiment,
        run_name=name,
        nested=active_run() is not None,
        tags={"kiln.study": name},
    )
    context.db.run(set_parent_run, study_id, run.id)
    return run


def tune(
    objective: Callable[[Any], Any],
    *,
    space: Mapping[str, Any] | None = None,
    study: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    direction: str = "minimize",
    directions: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None,
    sampler: Any = "tpe",
    pruner: Any = "median",
    seed: int | None = None,
    parallelism: int = 1,
    runner: str = "local",
    resources: Mapping[str, Any] | None = None,
    experiment: str | None = None,
    max_retries: int = 2,
    heartbeat_interval: float = 5.0,
    progress: bool | None = None,
    report: bool = True,
) -> TuningResult:
    """Search hyperparameters for ``objective``; returns the study's :class:`TuningResult`.

    With ``space`` (``{"lr": Float(1e-4, 1e-1, log=True), "depth": Int(2, 8),
    "kind": ["a", "b"]}``) the objective is called with a dict of values;
    without it, with the Optuna ``trial`` (define-by-run). Either calls
    :func:`kiln.training.report` to report progress and be pruned.
    ``n_trials`` is the size of the study (re-running continues it up to
    that), ``timeout`` the seconds this call may start trials for. Trials
    run here (``parallelism=1``), in ``parallelism`` local processes, or as
    Ray tasks (``runner="ray"``) with ``resources`` (``{"cpu": 2, "gpu": 0,
    "memory": "4GB"}``) each. A trial whose process dies is failed and run
    again, at most ``max_retries`` times. ``report=False`` skips the
    importances and the HTML report at the end (``TuningResult`` has both
    on demand).
    """
    from kiln.context import get_context
    from kiln.pipelines._resources import as_resources
    from kiln.training._loop import LoopSpec
    from kiln.training._samplers import PrunerChoice, SamplerChoice
    from kiln.training._space import parse_space
    from kiln.training._studies import check_study_name, prepare_study

    if not callable(objective):
        raise InvalidInput("objective must be callable", field="objective")
    name = check_study_name(study if study is not None else getattr(objective, "__name__", "study"))
    chosen = _directions(direction, directions)
    distributions = parse_space(space) if space is not None else None
    sampler_choice = SamplerChoice.check(
        sampler, seed=seed, objectives=len(chosen), distributions=distributions
    )
    pruner_choice = PrunerChoice.check(pruner, objectives=len(chosen))
    seconds = _timeout(timeout)
    if n_trials is None and seconds is None and sampler_choice.grid is None:
        raise InvalidInput(
            "give n_trials, timeout, or both: the search needs an end", field="n_trials"
        )
    budget = _budget(n_trials, sampler_choice)
    parallelism = _positive_int(parallelism, "parallelism")
    if runner not in RUNNERS:
        raise InvalidInput(f"runner {runner!r} is not one of {', '.join(RUNNERS)}", field="runner")
    per_trial = as_resources(resources) if resources is not None else None
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise InvalidInput(
            f"max_retries must be 0 or more, got {max_retries!r}", field="max_retries"
        )
    if metric_names is not None and len(metric_names) != len(chosen):
        raise InvalidInput("give one metric name per direction", field="metric_names")
    beat = _timeout(heartbeat_interval)
    assert beat is not None

    context = get_context()
    if context.client is not None:
        raise Conflict(
            "kiln.tune coordinates its trials through the metadata store itself: set "
            "KILN_DATABASE_URL to the server's database (and unset KILN_SERVER_URL) to tune"
        )
    project = context.settings.project
    settings = {
        "sampler": sampler_choice.name,
        "pruner": pruner_choice.name,
        "seed": seed,
        "n_trials": budget,
        "timeout": seconds,
        "parallelism": parallelism,
        "runner": runner,
        "resources": per_trial.to_json() if per_trial is not None else None,
        "max_retries": max_retries,
        "space": sorted(distributions) if distributions is not None else None,
    }
    study_id, stored = context.db.run(prepare_study, project, name, chosen, settings, user=_user())
    parent = _parent_run(context, study_id, stored, name, experiment)
    spec = LoopSpec(
        settings=context.settings,
        project=project,
        study=name,
        objective=objective,
        distributions=distributions,
        sampler=sampler_choice,
        pruner=pruner_choice,
        budget=budget,
        deadline=None if seconds is None else time.time() + seconds,
        max_retries=max_retries,
        heartbeat_interval=beat,
        stale_after=max(30.0, 6 * beat),
    )
    try:
        _record_settings(parent, settings, metric_names, context, project, study_id)
        _search(context, spec, study_id, parallelism, runner, per_trial, progress)
        from kiln.training._result import TuningResult

        result = TuningResult.load(context, project, name)
        result.record(parent, report=report)
    except KeyboardInterrupt:
        from kiln.tracking import RunStatus

        parent.end(RunStatus.KILLED, "interrupted: run the same kiln.tune call to continue")
        raise
    except BaseException:
        import traceback

        from kiln.tracking import RunStatus

        parent.end(RunStatus.FAILED, traceback.format_exc())
        raise
    parent.end()
    return result


def _budget(n_trials: int | None, sampler: Any) -> int:
    if n_trials is not None:
        return _positive_int(n_trials, "n_trials")
    if sampler.grid is not None:
        size = 1
        for values in sampler.grid.values():
            size *= len(values)
        return size
    return 2**31 - 1


def _record_settings(
    parent: ActiveRun,
    settings: dict[str, Any],
    metric_names: Sequence[str] | None,
    context: Context,
    project: str,
    study_id: int,
) -> None:
    from kiln.tracking import set_tags
    from kiln.training._storage import KilnStorage

    set_tags(
        {f"kiln.tune.{key}": str(value) for key, value in settings.items() if value is not None},
        run_id=parent.id,
    )
    if metric_names is not None:
        KilnStorage(context, project).set_study_system_attr(
            study_id, "study:metric_names", [str(name) for name in metric_names]
        )


def _search(
    context: Context,
    spec: Any,
    study_id: int,
    parallelism: int,
    runner: str,
    resources: Any,
    progress: bool | None,
) -> None:
    from kiln.training._progress import TrialProgress
    from kiln.training._stale import fail_dead_trials
    from kiln.training._storage import KilnStorage
    from kiln.training._workers import run_here, run_in_processes, run_on_ray

    storage = KilnStorage(context, spec.project)
    shown = sys.stderr.isatty() if progress is None else progress
    with TrialProgress(context, study_id, spec.study, spec.budget, enabled=shown) as bar:
        try:
            fail_dead_trials(
                storage, study_id, grace=spec.stale_after, max_retries=spec.max_retries
            )
            if runner == "ray":
                run_on_ray(spec, parallelism, resources, bar.poll)
            elif parallelism > 1:
                run_in_processes(spec, parallelism, resources, bar.poll)
            # Trials whose worker died are queued again: finish them here.
            fail_dead_trials(
                storage, study_id, grace=spec.stale_after, max_retries=spec.max_retries
            )
            if spec.deadline is None or time.time() < spec.deadline:
                run_here(context, spec, bar.trial_done)
        except KeyboardInterrupt:
            fail_dead_trials(
                storage, study_id, grace=spec.stale_after, max_retries=spec.max_retries
            )
            raise
