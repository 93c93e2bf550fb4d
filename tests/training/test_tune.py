"""kiln.tune: studies in Kiln's store, trials as nested runs, pruning, failures, resuming."""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

import kiln
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking import RunStatus, _fluent
from kiln.training import Categorical, Float, Int, get_study, list_studies, report, tune


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[kiln.Context]:
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[kiln.Context]:
    """For checks that refuse before the store is written: one database is enough."""
    context = kiln.configure(home=tmp_path / "store")
    yield context
    _fluent._reset_for_tests()
    kiln.configure(home=tmp_path / "after")


def quadratic(params: dict[str, Any]) -> float:
    return (params["x"] - 2.0) ** 2 + params["y"]


SPACE = {"x": Float(-5.0, 5.0), "y": Int(0, 3)}


def test_a_study_finds_the_minimum_and_tracks_every_trial_as_a_child_run(
    store: kiln.Context,
) -> None:
    result = tune(quadratic, space=SPACE, n_trials=25, seed=1, study="quad")

    assert result.name == "quad"
    assert len(result.trials) == 25
    assert [t.number for t in result.trials] == list(range(25))
    assert result.best_value < 0.5
    assert result.best_params["y"] == 0
    assert result.best_value == min(t.value for t in result.trials if t.value is not None)

    parent = kiln.get_run(result.run_id)
    assert parent.status is RunStatus.FINISHED
    assert parent.metrics["best_value"].value == pytest.approx(result.best_value)
    assert parent.tags["kiln.tune.best_trial"] == str(result.best_trial.number)
    assert {"importance.x", "importance.y"} <= set(parent.metrics)
    children = kiln.search_runs(filter_string="tags.`kiln.study` = 'quad'", max_results=100)
    trial_runs = [run for run in children if run.parent_run_id == result.run_id]
    assert len(trial_runs) == 25
    best_run = next(r for r in trial_runs if r.id == result.best_trial.run_id)
    assert best_run.status is RunStatus.FINISHED
    assert float(best_run.params["x"]) == pytest.approx(result.best_params["x"])
    assert best_run.metrics["value"].value == pytest.approx(result.best_value)
    assert best_run.metrics["duration_s"].value >= 0
    assert best_run.tags["kiln.trial.state"] == "COMPLETE"

    files = {artifact.path for artifact in kiln.list_artifacts(run_id=result.run_id, path="tuning")}
    assert "tuning/report.html" in files
    folder = kiln.download_artifacts(result.run_id, "tuning/report.html")
    page = Path(folder).read_text(encoding="utf-8")
    for title in (
        "Optimization history",
        "Parallel coordinates",
        "Slices",
        "Parameter importances",
    ):
        assert title in page
    assert "Plotly.newPlot" in page


def curve(trial: optuna.Trial) -> float:
    rate = trial.suggest_float("rate", 1e-3, 1.0, log=True)
    kind = trial.suggest_categorical("kind", ["good", "bad"])
    loss = 10.0
    for step in range(10):
        loss = loss * (1 - rate) + (5.0 if kind == "bad" else 0.0)
        report(loss, step)
    return loss


def test_define_by_run_with_pruning_stops_bad_trials_early(store: kiln.Context) -> None:
    result = tune(curve, n_trials=30, seed=3, pruner="median", study="curve")

    states = {t.state for t in result.trials}
    assert states <= {"COMPLETE", "PRUNED"}
    pruned = [t for t in result.trials if t.state == "PRUNED"]
    assert pruned, "the median pruner stopped no trial"
    assert all(len(t.intermediate) < 10 for t in pruned)
    complete = [t for t in result.trials if t.state == "COMPLETE"]
    assert all(sorted(t.intermediate) == list(range(10)) for t in complete)
    first = pruned[0]
    history = kiln.get_metric_history(first.run_id, "intermediate_value")
    assert [point.step for point in history] == sorted(first.intermediate)
    run = kiln.get_run(first.run_id)
    assert run.tags["kiln.trial.state"] == "PRUNED"
    assert run.status is RunStatus.FINISHED


def sometimes_broken(params: dict[str, Any]) -> float:
    if params["kind"] == "broken":
        raise ValueError("this configuration cannot train")
    kiln.log_metric("inner", 1.5)
    return float(params["x"])


def test_an_objective_that_raises_fails_its_trial_and_the_study_goes_on(
    store: kiln.Context,
) -> None:
    space = {"x": Float(0, 1), "kind": Categorical(["ok", "broken"])}
    result = tune(sometimes_broken, space=space, n_trials=12, seed=5, sampler="random")

    failed = [t for t in result.trials if t.state == "FAIL"]
    complete = [t for t in result.trials if t.state == "COMPLETE"]
    assert failed
    assert complete
    assert len(result.trials) == 12
    assert "this configuration cannot train" in (failed[0].failure or "")
    run = kiln.get_run(failed[0].run_id)
    assert run.status is RunStatus.FAILED
    assert "ValueError" in (run.failure or "")
    assert kiln.get_run(complete[0].run_id).metrics["inner"].value == 1.5


def test_running_the_same_study_again_continues_it(store: kiln.Context) -> None:
    first = tune(quadratic, space=SPACE, n_trials=5, seed=1, study="again")
    second = tune(quadratic, space=SPACE, n_trials=8, seed=1, study="again")
    third = tune(quadratic, space=SPACE, n_trials=8, seed=1, study="again")

    assert len(first.trials) == 5
    assert [t.number for t in second.trials] == list(range(8))
    assert len(third.trials) == 8
    assert first.run_id == second.run_id == third.run_id
    assert [s.name for s in list_studies()] == ["again"]


def test_a_study_reused_with_another_direction_is_a_conflict(store: kiln.Context) -> None:
    tune(quadratic, space=SPACE, n_trials=2, study="dir")
    with pytest.raises(Conflict, match="minimize"):
        tune(quadratic, space=SPACE, n_trials=3, study="dir", direction="maximize")
    assert get_study("dir").n_trials == 2


@pytest.mark.parametrize(
    ("space", "field"),
    [
        ({"x": Float(2, 1)}, "space.x"),
        ({"x": Float(0, 1, log=True)}, "space.x"),
        ({"x": Float(1, 10, log=True, step=1.0)}, "space.x"),
        ({"x": Float(0, math.inf)}, "space.x.high"),
        ({"n": Int(0, 5, step=0)}, "space.n"),
        ({"n": Int(0.5, 5)}, "space.n.low"),  # type: ignore[arg-type]
        ({"k": []}, "space.k"),
        ({"k": [object()]}, "space.k"),
        ({"k": ["a", "a"]}, "space.k"),
        ({"k": {"a": 1}}, "space.k"),
        ({"": [1]}, "space"),
        ({}, "space"),
        ([("x", [1])], "space"),
    ],
)
def test_an_invalid_search_space_is_refused_before_any_trial(
    sqlite_store: kiln.Context, space: Any, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        tune(quadratic, space=space, n_trials=3, study="bad-space")
    assert caught.value.field == field
    with pytest.raises(NotFound):
        get_study("bad-space")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"n_trials": 0}, "n_trials"),
        ({"n_trials": None}, "n_trials"),
        ({"timeout": -1}, "timeout"),
        ({"direction": "down"}, "direction"),
        ({"directions": []}, "directions"),
        ({"sampler": "annealing"}, "sampler"),
        ({"pruner": "sometimes"}, "pruner"),
        ({"parallelism": 0}, "parallelism"),
        ({"runner": "kubernetes"}, "runner"),
        ({"max_retries": -1}, "max_retries"),
        ({"seed": "one"}, "seed"),
        ({"study": "a/b"}, "study"),
        ({"resources": {"cpu": -1}}, None),
        ({"directions": ["minimize", "maximize"], "sampler": "cmaes"}, "sampler"),
        ({"directions": ["minimize", "maximize"]}, "pruner"),
        ({"metric_names": ["a", "b"]}, "metric_names"),
    ],
)
def test_invalid_options_are_refused_with_the_field(
    sqlite_store: kiln.Context, options: dict[str, Any], field: str | None
) -> None:
    arguments: dict[str, Any] = {"space": SPACE, "n_trials": 3, "study": "bad", **options}
    with pytest.raises(InvalidInput) as caught:
        tune(quadratic, **arguments)
    if field is not None:
        assert caught.value.field == field


def two_goals(params: dict[str, Any]) -> tuple[float, float]:
    return params["x"], (1 - params["x"]) ** 2


def test_several_directions_give_a_pareto_front(store: kiln.Context) -> None:
    result = tune(
        two_goals,
        space={"x": Float(0, 1)},
        n_trials=12,
        directions=["minimize", "minimize"],
        metric_names=["size", "error"],
        pruner=None,
        seed=2,
    )
    front = result.best_trials
    assert front
    for trial in front:
        assert not any(
            o.values[0] <= trial.values[0] and o.values[1] < trial.values[1]
            for o in result.trials
            if o.values
        )
    with pytest.raises(Conflict, match="Pareto"):
        _ = result.best_trial
    run = kiln.get_run(front[0].run_id)
    assert {"size", "error"} <= set(run.metrics)


@pytest.mark.parametrize("sampler", ["random", "cmaes", "tpe"])
def test_each_sampler_runs_a_study(sqlite_store: kiln.Context, sampler: str) -> None:
    result = tune(
        quadratic, space={"x": Float(-5, 5), "y": Int(0, 3)}, n_trials=10, sampler=sampler, seed=0
    )
    assert len(result.trials) == 10
    assert all(t.state == "COMPLETE" for t in result.trials)


def test_the_grid_sampler_visits_each_point_once(sqlite_store: kiln.Context) -> None:
    space = {"depth": Int(1, 3), "kind": ["a", "b"], "rate": Float(0.0, 1.0, step=0.5)}
    result = tune(lambda p: p["depth"], space=space, sampler="grid", study="grid")
    points = [(t.params["depth"], t.params["kind"], t.params["rate"]) for t in result.trials]
    assert len(points) == 3 * 2 * 3
    assert len(set(points)) == len(points)
    with pytest.raises(InvalidInput, match="not finite"):
        tune(quadratic, space={"x": Float(0, 1), "y": Int(0, 1)}, sampler="grid", study="g2")


def sleepy(params: dict[str, Any]) -> float:
    started = time.time()
    time.sleep(0.4)
    kiln.set_tags({"pid": os.getpid(), "window": f"{started}:{time.time()}"})
    return float(params["x"])


def test_parallel_trials_run_in_several_processes_at_once(store: kiln.Context) -> None:
    result = tune(sleepy, space={"x": Float(0, 1)}, n_trials=6, parallelism=2, study="par")

    assert [t.number for t in result.trials] == list(range(6))
    assert all(t.state == "COMPLETE" for t in result.trials)
    runs = [kiln.get_run(t.run_id) for t in result.trials]
    pids = {run.tags["pid"] for run in runs}
    assert len(pids) == 2
    assert str(os.getpid()) not in pids
    windows = sorted(tuple(map(float, run.tags["window"].split(":"))) for run in runs)
    overlapping = sum(1 for a, b in itertools.pairwise(windows) if b[0] < a[1])
    assert overlapping >= 2


def dies_once(params: dict[str, Any]) -> float:
    marker = Path(os.environ["KILN_TEST_MARKER"])
    if params["x"] > 0.5 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os._exit(3)  # the worker process dies in the middle of a trial
    return float(params["x"])


def test_a_trial_whose_worker_died_is_retried_with_the_same_parameters(
    store: kiln.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILN_TEST_MARKER", str(tmp_path / "died"))
    result = tune(
        dies_once, space={"x": Float(0, 1)}, n_trials=8, parallelism=2, seed=4, study="dies"
    )

    assert (tmp_path / "died").exists()
    failed = [t for t in result.trials if t.state == "FAIL"]
    assert len(failed) == 1
    dead = failed[0]
    assert "died" in (dead.failure or "")
    retry = next(t for t in result.trials if t.retry_of == dead.number)
    assert dead.retried_by == retry.number
    assert retry.state == "COMPLETE"
    assert retry.params == dead.params
    counted = [t for t in result.trials if t.retried_by is None]
    assert len(counted) == 8
    assert all(t.state == "COMPLETE" for t in counted)
    assert kiln.get_run(dead.run_id).status is RunStatus.KILLED


@pytest.mark.parametrize("pruner", ["successive_halving", "hyperband"])
def test_the_other_pruners_stop_trials_early(sqlite_store: kiln.Context, pruner: str) -> None:
    result = tune(curve, n_trials=20, seed=3, pruner=pruner, study=f"curve-{pruner}")
    assert any(t.state == "PRUNED" for t in result.trials)
    assert any(t.state == "COMPLETE" for t in result.trials)


def interrupted_once(params: dict[str, Any]) -> float:
    marker = Path(os.environ["KILN_TEST_MARKER"])
    if not marker.exists():
        marker.write_text("interrupted")
        raise KeyboardInterrupt
    return float(params["x"])


def test_ctrl_c_stops_the_study_and_the_next_call_reruns_the_interrupted_trial(
    store: kiln.Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILN_TEST_MARKER", str(tmp_path / "pressed"))
    with pytest.raises(KeyboardInterrupt):
        tune(interrupted_once, space={"x": Float(0, 1)}, n_trials=4, study="ctrl-c")
    stopped = get_study("ctrl-c")
    assert [(t.state, t.retried_by) for t in stopped.trials] == [("FAIL", 1), ("WAITING", None)]
    assert kiln.get_run(stopped.parent_run_id).status is RunStatus.KILLED
    assert kiln.get_run(stopped.trials[0].run_id).status is RunStatus.KILLED
    assert kiln.active_run() is None

    result = tune(interrupted_once, space={"x": Float(0, 1)}, n_trials=4, study="ctrl-c")
    assert [t.state for t in result.trials] == ["FAIL"] + ["COMPLETE"] * 4
    assert result.trials[1].params == result.trials[0].params
    assert kiln.get_run(result.run_id).status is RunStatus.FINISHED


def test_a_timeout_ends_the_search_after_the_running_trial(sqlite_store: kiln.Context) -> None:
    started = time.monotonic()
    result = tune(sleepy, space={"x": Float(0, 1)}, timeout=1.0, study="timed")
    assert 1.0 <= time.monotonic() - started < 10
    assert 2 <= len(result.trials) <= 4
    assert all(t.state == "COMPLETE" for t in result.trials)
