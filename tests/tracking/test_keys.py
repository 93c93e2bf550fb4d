"""The runs table's services on SQLite and PostgreSQL: keys, counts, lean pages, run stats.

``run_table_page`` and ``count_runs`` must agree with ``search_runs`` (same
filter language, order, views), so each case runs both and compares.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from kiln import auth
from kiln.db import Database
from kiln.errors import InvalidInput, NotFound
from kiln.tracking._entities import LifecycleStage, Metric, Param
from kiln.tracking._experiments import create_experiment, set_experiment_lifecycle
from kiln.tracking._keys import (
    count_runs,
    experiment_keys,
    experiment_run_stats,
    run_table_page,
)
from kiln.tracking._runs import create_run, log_batch, set_run_lifecycle
from kiln.tracking._search import search_runs

PROJECT = "keys"


@dataclass(frozen=True)
class World:
    db: Database
    alpha: str
    beta: str
    empty: str
    runs: dict[str, str]


def _log(db: Database, experiment: str, name: str, start: int, **data: dict[str, object]) -> str:
    run = db.run(create_run, PROJECT, experiment, name=name, start_time=start)
    db.run(
        log_batch,
        PROJECT,
        run.id,
        params=[Param(k, str(v)) for k, v in data.get("params", {}).items()],
        metrics=[Metric(k, float(v), 0, start) for k, v in data.get("metrics", {}).items()],  # type: ignore[arg-type]
    )
    return run.id


@pytest.fixture
def world(db: Database) -> World:
    """alpha: 6 runs (one deleted); beta: 1 run with other keys; another project: a decoy."""
    db.run(auth.ensure_project, PROJECT)
    db.run(auth.ensure_project, "other")
    alpha = db.run(create_experiment, PROJECT, "alpha").id
    beta = db.run(create_experiment, PROJECT, "beta").id
    empty = db.run(create_experiment, PROJECT, "empty").id
    runs = {
        "a": _log(db, alpha, "a", 1000, params={"lr": "0.1", "model": "xgb"}, metrics={"auc": 0.9}),
        "b": _log(db, alpha, "b", 2000, params={"lr": "0.01"}, metrics={"auc": 0.7, "loss": 1}),
        "c": _log(db, alpha, "c", 3000, params={"model": "lgbm"}, metrics={"auc": math.nan}),
        "d": _log(db, alpha, "d", 4000, params={"weird key": "x"}, metrics={"train/loss": 0.5}),
        "e": _log(db, alpha, "e", 5000, params={"lr": "0.3"}, metrics={"auc": 0.8}),
        "gone": _log(db, alpha, "gone", 6000, params={"secret": "1"}, metrics={"hidden": 1}),
        "f": _log(db, beta, "f", 7000, params={"depth": "4"}, metrics={"rmse": 2.0}),
    }
    db.run(set_run_lifecycle, PROJECT, runs["gone"], LifecycleStage.DELETED)
    other = db.run(create_experiment, "other", "alpha").id
    run = db.run(create_run, "other", other, name="decoy", start_time=9000)
    db.run(log_batch, "other", run.id, params=[Param("decoy", "1")])
    return World(db, alpha, beta, empty, runs)


def test_keys_of_an_experiment_skip_deleted_runs_and_other_experiments(world: World) -> None:
    keys = world.db.read(experiment_keys, PROJECT, world.alpha)
    assert keys.params == ["lr", "model", "weird key"]
    assert keys.metrics == ["auc", "loss", "train/loss"]
    assert (keys.runs_read, keys.complete) == (5, True)
    beta = world.db.read(experiment_keys, PROJECT, world.beta)
    assert (beta.params, beta.metrics) == (["depth"], ["rmse"])
    empty = world.db.read(experiment_keys, PROJECT, world.empty)
    assert (empty.params, empty.metrics, empty.runs_read, empty.complete) == ([], [], 0, True)


def test_keys_read_only_the_newest_runs_when_asked(world: World) -> None:
    keys = world.db.read(experiment_keys, PROJECT, world.alpha, sample=2)
    # the two newest active runs are e and d
    assert keys.params == ["lr", "weird key"]
    assert keys.metrics == ["auc", "train/loss"]
    assert (keys.runs_read, keys.complete) == (2, False)
    with pytest.raises(InvalidInput) as error:
        world.db.read(experiment_keys, PROJECT, world.alpha, sample=0)
    assert error.value.field == "sample"


def test_keys_of_another_projects_experiment_are_not_found(world: World) -> None:
    with pytest.raises(NotFound):
        world.db.read(experiment_keys, "other", world.alpha)
    with pytest.raises(InvalidInput):
        world.db.read(experiment_keys, PROJECT, "not-a-number")


CASES = [
    ("", []),
    ("", ["metrics.auc DESC"]),
    ("", ["metrics.auc ASC"]),
    ("", ["params.lr DESC"]),
    ("", ["params.`weird key`"]),
    ("", ["attributes.run_name DESC"]),
    ("metrics.auc > 0.75", []),
    ("params.model = 'xgb' or params.lr = '0.3'", ["start_time ASC"]),
    ("metrics.auc != 0.9", ["metrics.auc DESC"]),
    ("params.lr LIKE '0.%'", ["params.lr"]),
]


@pytest.mark.parametrize(("filter_string", "order_by"), CASES)
def test_pages_and_counts_agree_with_search_runs(
    world: World, filter_string: str, order_by: list[str]
) -> None:
    searched, _ = world.db.read(
        search_runs, PROJECT, [world.alpha], filter_string=filter_string, order_by=order_by
    )
    expected = [run.id for run in searched]
    total = world.db.read(count_runs, PROJECT, [world.alpha], filter_string=filter_string)
    assert total == len(expected)
    pages: list[str] = []
    offset, more = 0, True
    while more:
        page, more = world.db.read(
            run_table_page,
            PROJECT,
            [world.alpha],
            filter_string=filter_string,
            order_by=order_by,
            offset=offset,
            max_results=2,
        )
        assert len(page) <= 2
        pages += [run.id for run in page]
        offset += 2
    assert pages == expected


def test_a_page_holds_only_the_chosen_columns(world: World) -> None:
    runs, more = world.db.read(
        run_table_page,
        PROJECT,
        [world.alpha],
        order_by=["attributes.start_time ASC"],
        params=["lr", "weird key", "missing"],
        metrics=["auc"],
    )
    assert not more
    by_name = {run.name: run for run in runs}
    assert list(by_name) == ["a", "b", "c", "d", "e"]
    assert by_name["a"].params == {"lr": "0.1"}  # not "model"
    assert by_name["d"].params == {"weird key": "x"}
    assert by_name["a"].metrics["auc"].value == 0.9
    assert "loss" not in by_name["b"].metrics
    assert math.isnan(by_name["c"].metrics["auc"].value)
    assert by_name["d"].metrics == {}
    assert all(run.tags == {} for run in runs)


def test_views_and_whole_project_counts(world: World) -> None:
    assert world.db.read(count_runs, PROJECT) == 6
    assert world.db.read(count_runs, PROJECT, run_view="all") == 7
    assert world.db.read(count_runs, PROJECT, [world.alpha], run_view="deleted_only") == 1
    assert world.db.read(count_runs, "other") == 1
    world.db.run(set_experiment_lifecycle, PROJECT, world.beta, LifecycleStage.DELETED)
    assert world.db.read(count_runs, PROJECT) == 5


def test_bad_arguments_name_their_field(world: World) -> None:
    calls: list[tuple[str, Callable[[], object]]] = [
        ("filter", lambda: world.db.read(count_runs, PROJECT, filter_string="metrics.auc >")),
        ("run_view", lambda: world.db.read(count_runs, PROJECT, run_view="some")),
        (
            "order_by",
            lambda: world.db.read(run_table_page, PROJECT, order_by=["params.x SIDEWAYS"]),
        ),
        ("offset", lambda: world.db.read(run_table_page, PROJECT, offset=-1)),
        ("max_results", lambda: world.db.read(run_table_page, PROJECT, max_results=0)),
        ("params", lambda: world.db.read(run_table_page, PROJECT, params=["k"] * 101)),
    ]
    for field, call in calls:
        with pytest.raises(InvalidInput) as error:
            call()
        assert error.value.field == field, field
    with pytest.raises(NotFound):
        world.db.read(count_runs, "no-such-project")


def test_run_stats_count_active_runs_per_experiment(world: World) -> None:
    stats = world.db.read(experiment_run_stats, PROJECT, [world.alpha, world.beta, world.empty])
    assert stats[world.alpha].runs == 5
    assert stats[world.alpha].last_start == 5000  # the deleted run started later
    assert (stats[world.beta].runs, stats[world.beta].last_start) == (1, 7000)
    assert (stats[world.empty].runs, stats[world.empty].last_start) == (0, None)
    assert world.db.read(experiment_run_stats, PROJECT, []) == {}
    # another project's experiment ids give nothing away
    assert world.db.read(experiment_run_stats, "other", [world.alpha])[world.alpha].runs == 0
