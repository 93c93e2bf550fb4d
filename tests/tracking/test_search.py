"""The run search language on SQLite and PostgreSQL: one table of expectations, both dialects."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from kiln import auth
from kiln.db import Database
from kiln.db.tables import ExperimentRow
from kiln.errors import InvalidInput, NotFound
from kiln.tracking._entities import DatasetInput, LifecycleStage, Metric, Param, RunStatus
from kiln.tracking._experiments import create_experiment, set_experiment_lifecycle
from kiln.tracking._inputs import log_inputs
from kiln.tracking._runs import create_run, log_batch, set_run_lifecycle, update_run
from kiln.tracking._search import (
    MAX_RESULTS,
    parse_filter,
    parse_order_by,
    search_experiments,
    search_runs,
)
from kiln.tracking._search_parse import And, Comparison, Identifier, Or, OrderTerm
from tests.conftest import POSTGRES_ADMIN_URL, require_service

# --- the world every filter case runs against ----------------------------------------
#
# Experiment "alpha" holds Ada, bob, cy, dee, eve and (deleted) gus; "beta" holds fay;
# project "other" holds xen, which matches almost everything and must never appear.

RUNS: dict[str, dict[str, object]] = {
    "Ada": {
        "start": 1000,
        "end": 1500,
        "status": "FINISHED",
        "user": "ana",
        "params": {"model": "xgb", "lr": "0.1", "learning rate": "0.1"},
        "metrics": {"auc": 0.91, "train/loss": 0.2},
        "tags": {"team": "fraud", "note": "Hello World", "mlflow.source": "nb"},
        "inputs": [("cards", "d1", "train")],
    },
    "bob": {
        "start": 2000,
        "end": 2600,
        "status": "FINISHED",
        "user": "Bob",
        "parent": "Ada",
        "params": {"model": "XGB", "lr": "0.01"},
        "metrics": {"auc": 0.75, "train/loss": 0.4},
        "tags": {"team": "risk", "note": "hello world"},
        "inputs": [("cards", "d1", "eval"), ("txns", "d2", "train")],
    },
    "cy": {
        "start": 3000,
        "end": 3100,
        "status": "FAILED",
        "params": {"model": "lgbm", "lr": "0.1"},
        "metrics": {"auc": math.nan, "train/loss": 0.3},
        "tags": {"team": "fraud", "path": "C:\\data\\x_1"},
    },
    "dee": {
        "start": 4000,
        "status": "RUNNING",
        "params": {"model": "x_gb"},
        "metrics": {"loss": 1.0},
        "tags": {"note": "50% off"},
    },
    "eve": {
        "start": 5000,
        "end": 5900,
        "status": "FINISHED",
        "params": {"model": "xagb"},
        # logged 0.99 first, then 0.5 at a later step: the latest value is 0.5
        "history": [Metric("auc", 0.99, 0, 1), Metric("auc", 0.5, 1, 2)],
        "tags": {"team": "fraud", "note": "a*b?[c]"},
    },
    "fay": {
        "experiment": "beta",
        "start": 6000,
        "end": 6500,
        "status": "FINISHED",
        "params": {"model": "xgb", "lr": "0.1"},
        "metrics": {"auc": 0.95},
        "tags": {"team": "ops", "note": "it's", "author": "Émile"},
    },
    "gus": {
        "start": 7000,
        "deleted": True,
        "params": {"model": "xgb"},
        "metrics": {"auc": 0.99},
        "tags": {"team": "fraud"},
    },
    "xen": {
        "project": "other",
        "start": 8000,
        "end": 8100,
        "status": "FINISHED",
        "user": "ana",
        "params": {"model": "xgb", "lr": "0.1"},
        "metrics": {"auc": 0.99},
        "tags": {"team": "fraud", "note": "Hello World"},
        "inputs": [("cards", "d1", "train")],
    },
}
ACTIVE = ["Ada", "bob", "cy", "dee", "eve", "fay"]


@dataclass(frozen=True)
class World:
    db: Database
    #: run name → run id, and "alpha"/"beta"/"other" → experiment id
    ids: dict[str, str]

    def search(self, filter_string: str = "", **kwargs: object) -> list[str]:
        """Names of the matching runs of project "default", in result order."""
        project = str(kwargs.pop("project", "default"))
        experiments = kwargs.pop("experiment_ids", [])
        runs, _ = self.db.read(
            search_runs,
            project,
            experiments,  # type: ignore[arg-type]
            filter_string=filter_string.format(**self.ids),
            **kwargs,  # type: ignore[arg-type]
        )
        return [run.name for run in runs]


def _add_run(session: Session, ids: dict[str, str], name: str, spec: dict[str, object]) -> None:
    project = str(spec.get("project", "default"))
    experiment = ids["other" if project == "other" else str(spec.get("experiment", "alpha"))]
    parent = spec.get("parent")
    run = create_run(
        session,
        project,
        experiment,
        name=name,
        start_time=int(spec["start"]),  # type: ignore[call-overload]
        user=str(spec.get("user", "")),
        parent_run_id=ids[str(parent)] if parent else None,
    )
    ids[name] = run.id
    metrics = [Metric(k, v, 0, 0) for k, v in spec.get("metrics", {}).items()]  # type: ignore[attr-defined]
    log_batch(
        session,
        project,
        run.id,
        metrics=metrics + list(spec.get("history", [])),  # type: ignore[call-overload]
        params=[Param(k, v) for k, v in spec.get("params", {}).items()],  # type: ignore[attr-defined]
        tags=list(spec.get("tags", {}).items()),  # type: ignore[attr-defined]
    )
    inputs = spec.get("inputs", [])
    if inputs:
        log_inputs(
            session,
            project,
            run.id,
            [DatasetInput(n, d, context=c) for n, d, c in inputs],  # type: ignore[attr-defined]
        )
    if "status" in spec and spec["status"] != "RUNNING":
        update_run(
            session,
            project,
            run.id,
            status=RunStatus(str(spec["status"])),
            end_time=spec.get("end"),  # type: ignore[arg-type]
        )
    if spec.get("deleted"):
        set_run_lifecycle(session, project, run.id, LifecycleStage.DELETED)


def build_world(db: Database) -> World:
    ids: dict[str, str] = {}
    db.run(auth.create_project, "other")
    for project, name in (("default", "alpha"), ("default", "beta"), ("other", "other")):
        ids[name] = db.run(create_experiment, project, name).id
    for name, spec in RUNS.items():
        db.run(_add_run, ids, name, spec)
    return World(db, ids)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One read-only world per dialect, shared by the table of filter cases."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path_factory.mktemp('search') / 'kiln.db'}")
        try:
            yield build_world(db)
        finally:
            db.dispose()
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    import psycopg

    name = f"kiln_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        # A linguistic collation (where "XGB" sorts between "lgbm" and "xgb"), so the
        # tests show that text sorts by code point whatever the database's default.
        try:
            conn.execute(
                f'CREATE DATABASE "{name}" TEMPLATE template0 '
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        except psycopg.Error:  # PostgreSQL < 15 or built without ICU
            conn.execute(f'CREATE DATABASE "{name}"')
    db = Database(f"{POSTGRES_ADMIN_URL.rpartition('/')[0]}/{name}")
    try:
        yield build_world(db)
    finally:
        db.dispose()
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mutable_world(db: Database) -> World:
    """A world of its own, for tests that delete things."""
    return build_world(db)


# --- filters: (filter, expected names) on both dialects ------------------------------

CASES: list[tuple[str, list[str]]] = [
    # attributes: text
    ("run_name = 'Ada'", ["Ada"]),
    ("attributes.run_name != 'Ada'", ["bob", "cy", "dee", "eve", "fay"]),
    ("attribute.name IN ('Ada', 'bob')", ["Ada", "bob"]),
    ("attr.run_name NOT IN ('Ada', 'bob')", ["cy", "dee", "eve", "fay"]),
    ("run_name LIKE 'A%'", ["Ada"]),
    ("run_name LIKE 'a%'", []),
    ("run_name ILIKE 'a%'", ["Ada"]),
    ("status = 'FAILED'", ["cy"]),
    ("status != 'FINISHED'", ["cy", "dee"]),
    ("status IN ('RUNNING', 'FAILED')", ["cy", "dee"]),
    ("status LIKE 'FIN%'", ["Ada", "bob", "eve", "fay"]),
    ("status LIKE 'fin%'", []),
    ("status ilike 'fin%'", ["Ada", "bob", "eve", "fay"]),
    ("user = 'ana'", ["Ada"]),
    ("user_id ILIKE 'bob'", ["bob"]),
    ("user LIKE 'b%'", []),
    ("run_id = '{Ada}'", ["Ada"]),
    ("attributes.id IN ('{Ada}', '{fay}', '{xen}', '{gus}')", ["Ada", "fay"]),
    ("parent_run_id = '{Ada}'", ["bob"]),
    ("parent_run_id != '{Ada}'", []),
    ("lifecycle_stage = 'active'", ACTIVE),
    ("experiment_id = {beta}", ["fay"]),
    ("experiment_id = '{beta}'", ["fay"]),
    ("experiment_id != {beta}", ["Ada", "bob", "cy", "dee", "eve"]),
    ("experiment_id IN ('{beta}', {other})", ["fay"]),
    # attributes: numbers (milliseconds)
    ("start_time > 3000", ["dee", "eve", "fay"]),
    ("start_time >= 3000", ["cy", "dee", "eve", "fay"]),
    ("start_time < 2000", ["Ada"]),
    ("start_time <= 2000", ["Ada", "bob"]),
    ("start_time = 2000", ["bob"]),
    ("start_time != 2000", ["Ada", "cy", "dee", "eve", "fay"]),
    ("created >= 5000", ["eve", "fay"]),
    ("attributes.start_time IN (1000, 6000)", ["Ada", "fay"]),
    ("start_time NOT IN (1000, 6000)", ["bob", "cy", "dee", "eve"]),
    ("start_time > 2.5e3", ["cy", "dee", "eve", "fay"]),
    ("end_time < 3000", ["Ada", "bob"]),
    ("end_time != 1500", ["bob", "cy", "eve", "fay"]),
    ("end_time > -1", ["Ada", "bob", "cy", "eve", "fay"]),
    # params: text only, missing keys never match
    ("params.model = 'xgb'", ["Ada", "fay"]),
    ("param.model != 'xgb'", ["bob", "cy", "dee", "eve"]),
    ("params.model LIKE 'x%'", ["Ada", "dee", "eve", "fay"]),
    ("params.model LIKE 'X%'", ["bob"]),
    ("params.model ILIKE 'x%'", ["Ada", "bob", "dee", "eve", "fay"]),
    ("params.model LIKE 'x_gb'", ["dee", "eve"]),
    ("params.model LIKE 'x\\_gb'", ["dee"]),
    ("params.model LIKE '%gb%'", ["Ada", "cy", "dee", "eve", "fay"]),
    ("params.model IN ('xgb', 'lgbm')", ["Ada", "cy", "fay"]),
    ("params.model NOT IN ('xgb', 'lgbm')", ["bob", "dee", "eve"]),
    ("params.lr != '0.1'", ["bob"]),
    ("params.lr NOT IN ('0.1')", ["bob"]),
    ("params.`learning rate` = '0.1'", ["Ada"]),
    ('params."learning rate" = "0.1"', ["Ada"]),
    ("params.'learning rate' = '0.1'", ["Ada"]),
    ("params.missing = 'x'", []),
    ("params.missing != 'x'", []),
    ("params.Model = 'xgb'", []),
    # metrics: the latest value, numerically; NaN and missing never match
    ("metrics.auc > 0.8", ["Ada", "fay"]),
    ("metrics.auc >= 0.75", ["Ada", "bob", "fay"]),
    ("metrics.auc < 0.8", ["bob", "eve"]),
    ("metrics.auc <= 0.5", ["eve"]),
    ("metrics.auc = 0.75", ["bob"]),
    ("metrics.auc != 0.75", ["Ada", "eve", "fay"]),
    ("metric.auc IN (0.91, 0.5)", ["Ada", "eve"]),
    ("metrics.auc NOT IN (0.91, 0.5)", ["bob", "fay"]),
    ("metrics.auc > 5e-1", ["Ada", "bob", "fay"]),
    ("metrics.auc > -1E3", ["Ada", "bob", "eve", "fay"]),
    ("metrics.auc > 0", ["Ada", "bob", "eve", "fay"]),
    ("metrics.`train/loss` < 0.35", ["Ada", "cy"]),
    ('metrics."train/loss" > -1', ["Ada", "bob", "cy"]),
    ("metrics.train/loss >= 0.4", ["bob"]),
    ("metrics.missing != 1", []),
    # tags
    ("tags.team = 'fraud'", ["Ada", "cy", "eve"]),
    ('tags.team = "fraud"', ["Ada", "cy", "eve"]),
    ("tags.team != 'fraud'", ["bob", "fay"]),
    ("tag.note LIKE 'Hello%'", ["Ada"]),
    ("tags.note LIKE 'hello%'", ["bob"]),
    ("tags.note ILIKE 'HELLO%'", ["Ada", "bob"]),
    ("tags.note LIKE '50\\%%'", ["dee"]),
    ("tags.note LIKE '%\\% off'", ["dee"]),
    ("tags.note = 'a*b?[c]'", ["eve"]),
    ("tags.note LIKE 'a*b?[c]'", ["eve"]),
    ("tags.note LIKE 'a*%'", ["eve"]),
    ("tags.note LIKE '%[c]'", ["eve"]),
    ("tags.note LIKE '[*]%'", []),
    ("tags.note LIKE 'a?b%'", []),
    ("tags.note = 'it''s'", ["fay"]),
    ('tags.note = "it\'s"', ["fay"]),
    ("tags.team IN ('fraud', 'ops')", ["Ada", "cy", "eve", "fay"]),
    ("tags.team NOT IN ('fraud', 'ops')", ["bob"]),
    ("tags.mlflow.source = 'nb'", ["Ada"]),
    ("tags.path = 'C:\\data\\x_1'", ["cy"]),
    ("tags.path LIKE 'C:\\\\data%'", ["cy"]),
    ("tags.path LIKE 'C:\\data%'", []),
    ("tags.path LIKE '%\\\\x\\_1'", ["cy"]),
    ("tags.path LIKE '%1\\'", []),
    ("tags.path LIKE 'C:%\\'", []),
    ("tags.author ILIKE 'émile'", []),
    ("tags.author ILIKE 'ÉMILE'", ["fay"]),
    ("tags.author LIKE '_mile'", ["fay"]),
    # datasets: a run matches when any of its inputs does
    ("datasets.name = 'cards'", ["Ada", "bob"]),
    ("dataset.name = 'txns'", ["bob"]),
    ("datasets.digest = 'd2'", ["bob"]),
    ("datasets.context = 'train'", ["Ada", "bob"]),
    ("datasets.context = 'eval' and datasets.name = 'txns'", ["bob"]),
    ("datasets.name != 'cards'", ["bob"]),
    ("datasets.name LIKE 'c%'", ["Ada", "bob"]),
    ("datasets.name ILIKE 'CARDS'", ["Ada", "bob"]),
    ("datasets.name IN ('txns')", ["bob"]),
    ("datasets.name NOT IN ('cards')", ["bob"]),
    # and / or / parentheses
    ("tags.team = 'fraud' and metrics.auc > 0.8", ["Ada"]),
    ("tags.team = 'fraud' or metrics.auc > 0.8", ["Ada", "cy", "eve", "fay"]),
    ("params.model = 'lgbm' or params.model = 'xgb' and tags.team = 'ops'", ["cy", "fay"]),
    ("(params.model = 'lgbm' or params.model = 'xgb') and tags.team = 'ops'", ["fay"]),
    ("((status = 'FAILED'))", ["cy"]),
    (
        "status = 'FAILED' OR (tags.team = 'risk' AND (metrics.auc < 0.8 or metrics.auc > 0.9))",
        ["bob", "cy"],
    ),
    ("metrics.auc > 0.8 AnD tags.team = 'ops'", ["fay"]),
    ("  ", ACTIVE),
    ("", ACTIVE),
]


@pytest.mark.parametrize(("filter_string", "expected"), CASES, ids=[c[0] for c in CASES])
def test_filter(world: World, filter_string: str, expected: list[str]) -> None:
    assert sorted(world.search(filter_string)) == sorted(expected)


# --- ordering -----------------------------------------------------------------------

ORDERS: list[tuple[list[str], list[str]]] = [
    ([], ["fay", "eve", "dee", "cy", "bob", "Ada"]),
    (["start_time ASC"], ["Ada", "bob", "cy", "dee", "eve", "fay"]),
    (["metrics.auc DESC"], ["fay", "Ada", "bob", "eve", "dee", "cy"]),
    (["metrics.auc"], ["eve", "bob", "Ada", "fay", "dee", "cy"]),
    (["metrics.auc asc"], ["eve", "bob", "Ada", "fay", "dee", "cy"]),
    # code point order on both dialects: "XGB" < "lgbm" < "x_gb" < "xagb" < "xgb"
    (["params.model"], ["bob", "cy", "dee", "eve", "fay", "Ada"]),
    (["params.model DESC"], ["fay", "Ada", "eve", "dee", "cy", "bob"]),
    (["params.lr DESC"], ["fay", "cy", "Ada", "bob", "eve", "dee"]),
    (["params.lr ASC"], ["bob", "fay", "cy", "Ada", "eve", "dee"]),
    (["tags.team", "metrics.auc DESC"], ["Ada", "eve", "cy", "fay", "bob", "dee"]),
    (["tags.team DESC", "start_time"], ["bob", "fay", "Ada", "cy", "eve", "dee"]),
    (["attributes.end_time"], ["Ada", "bob", "cy", "eve", "fay", "dee"]),
    (["end_time DESC"], ["fay", "eve", "cy", "bob", "Ada", "dee"]),
    (["run_name"], ["Ada", "bob", "cy", "dee", "eve", "fay"]),
    (["status", "name DESC"], ["cy", "fay", "eve", "bob", "Ada", "dee"]),
    (["metrics.`train/loss` DESC"], ["bob", "cy", "Ada", "fay", "eve", "dee"]),
]


@pytest.mark.parametrize(("order_by", "expected"), ORDERS, ids=[" ".join(o) for o, _ in ORDERS])
def test_order(world: World, order_by: list[str], expected: list[str]) -> None:
    assert world.search(order_by=order_by) == expected


def test_filter_and_order_together(world: World) -> None:
    found = world.search("tags.team != 'risk'", order_by=["metrics.auc DESC"], max_results=3)
    assert found == ["fay", "Ada", "eve"]


# --- restrictions: project, experiments, views ---------------------------------------


def test_a_run_of_another_project_never_appears(world: World) -> None:
    assert "xen" not in world.search("params.model = 'xgb' or metrics.auc > 0", run_view="all")
    assert world.search(f"run_id = '{world.ids['xen']}'") == []
    assert world.search(project="other") == ["xen"]
    assert world.search(experiment_ids=[world.ids["other"]]) == []


def test_unknown_project(world: World) -> None:
    with pytest.raises(NotFound):
        world.search(project="nope")


def test_experiment_restriction(world: World) -> None:
    alpha, beta = world.ids["alpha"], world.ids["beta"]
    assert world.search(experiment_ids=[beta]) == ["fay"]
    assert sorted(world.search(experiment_ids=[alpha])) == ["Ada", "bob", "cy", "dee", "eve"]
    assert sorted(world.search(experiment_ids=[int(alpha), beta])) == ACTIVE
    assert world.search("metrics.auc > 0.8", experiment_ids=[alpha]) == ["Ada"]
    with pytest.raises(InvalidInput) as caught:
        world.search(experiment_ids=["alpha"])
    assert caught.value.field == "experiment_id"


def test_run_views(mutable_world: World) -> None:
    world = mutable_world
    assert sorted(world.search()) == ACTIVE
    assert world.search(run_view="deleted_only") == ["gus"]
    assert sorted(world.search(run_view="all")) == sorted([*ACTIVE, "gus"])
    assert world.search("metrics.auc > 0.98", run_view="ALL") == ["gus"]
    # runs of a deleted experiment count as deleted
    world.db.run(set_experiment_lifecycle, "default", world.ids["beta"], LifecycleStage.DELETED)
    assert sorted(world.search()) == ["Ada", "bob", "cy", "dee", "eve"]
    assert world.search(run_view="deleted_only") == ["gus", "fay"]
    assert world.search(experiment_ids=[world.ids["beta"]]) == []
    with pytest.raises(InvalidInput) as caught:
        world.search(run_view="everything")
    assert caught.value.field == "run_view"


# --- paging -------------------------------------------------------------------------


def _many_runs(db: Database, count: int = 25) -> dict[str, tuple[int, float | None]]:
    """``count`` runs with clashing start times and scores; name → (start, score)."""
    experiment = db.run(create_experiment, "default", "paging").id
    made: dict[str, tuple[int, float | None]] = {}
    for i in range(count):
        start, score = 1000 + i // 3, (None if i % 7 == 0 else float(i % 4))
        run = db.run(create_run, "default", experiment, name=f"run-{i:02d}", start_time=start)
        if score is not None:
            db.run(log_batch, "default", run.id, metrics=[Metric("score", score)])
        made[run.id] = (start, score)
    return made


def _pages(db: Database, **kwargs: object) -> list[list[str]]:
    pages, token = [], None
    while True:
        runs, token = db.read(
            search_runs,
            "default",
            [],
            max_results=10,
            page_token=token,
            **kwargs,  # type: ignore[arg-type]
        )
        pages.append([run.id for run in runs])
        if token is None:
            return pages


def test_paging_returns_every_run_once_in_order(db: Database) -> None:
    made = _many_runs(db)
    pages = _pages(db)
    assert [len(page) for page in pages] == [10, 10, 5]
    flat = [run_id for page in pages for run_id in page]
    assert flat == sorted(made, key=lambda run_id: (-made[run_id][0], run_id))


def test_paging_by_a_metric_with_ties_and_missing_values(db: Database) -> None:
    made = _many_runs(db)
    flat = [run_id for page in _pages(db, order_by=["metrics.score DESC"]) for run_id in page]

    def key(run_id: str) -> tuple[bool, float, int, str]:
        start, score = made[run_id]
        return (score is None, -(score or 0.0), -start, run_id)

    assert flat == sorted(made, key=key)
    whole, token = db.read(search_runs, "default", [], order_by=["metrics.score DESC"])
    assert [run.id for run in whole] == flat
    assert token is None


def test_no_token_when_the_page_is_exactly_full(db: Database) -> None:
    _many_runs(db)
    runs, token = db.read(search_runs, "default", [], max_results=25)
    assert len(runs) == 25
    assert token is None
    runs, token = db.read(search_runs, "default", [], max_results=24)
    assert token is not None
    rest, last = db.read(search_runs, "default", [], max_results=5, page_token=token)
    assert (len(rest), last) == (1, None)


def test_a_token_from_another_query_is_refused(db: Database) -> None:
    _many_runs(db)
    _, token = db.read(
        search_runs, "default", [], filter_string="metrics.score >= 0", max_results=5
    )
    assert token is not None
    for other in (
        {"filter_string": "metrics.score > 0"},
        {"filter_string": "metrics.score >= 0", "order_by": ["metrics.score"]},
        {"filter_string": "metrics.score >= 0", "run_view": "all"},
    ):
        with pytest.raises(InvalidInput) as caught:
            db.read(search_runs, "default", [], page_token=token, **other)
        assert caught.value.field == "page_token"
    # the same query, written differently, keeps its token
    runs, _ = db.read(
        search_runs, "default", [], filter_string="METRICS.score >=  0", page_token=token
    )
    assert len(runs) == 16  # 21 runs have a score; the first page held 5


@pytest.mark.parametrize("token", ["garbage!", "e30", "eyJvZmZzZXQiOi0xLCJxdWVyeSI6IngifQ", "é"])
def test_a_malformed_token_is_refused(db: Database, token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        db.read(search_runs, "default", [], page_token=token)
    assert caught.value.field == "page_token"


@pytest.mark.parametrize("max_results", [0, -1, MAX_RESULTS + 1, True, 2.5])
def test_max_results_out_of_range(db: Database, max_results: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        db.read(search_runs, "default", [], max_results=max_results)
    assert caught.value.field == "max_results"
    with pytest.raises(InvalidInput) as caught:
        db.read(search_experiments, "default", max_results=max_results)
    assert caught.value.field == "max_results"


def test_max_results_at_the_limit(db: Database) -> None:
    assert db.read(search_runs, "default", [], max_results=MAX_RESULTS) == ([], None)


# --- malformed filters: InvalidInput naming the token and its position --------------

BAD_FILTERS: list[tuple[str, str, int]] = [
    ("(metrics.auc > 1", "end of filter", 16),
    ("((metrics.auc > 1) or status = 'x'", "end of filter", 34),
    ("metrics.auc > 1)", "')'", 15),
    ("()", "')'", 1),
    ("foo.bar = 'x'", "'foo'", 0),
    ("colour = 'red'", "'colour'", 0),
    ("attributes.colour = 'red'", "'colour'", 0),
    ("datasets.size = 'x'", "'size'", 0),
    ("metrics. = 1", "'metrics.'", 0),
    ("metrics.auc >", "end of filter", 13),
    ("params.model = ", "end of filter", 15),
    ("params.model = and", "'and'", 15),
    ("metrics.auc == 1", "'=='", 12),
    ("metrics.auc => 1", "'=>'", 12),
    ("metrics.auc ~ 1", "'~'", 12),
    ("metrics.auc 1", "'1'", 12),
    ("params.model = 'xgb", "'xgb", 15),
    ("params.`model = 'xgb'", "`model", 7),
    ("metrics.auc > 1 garbage", "'garbage'", 16),
    ("metrics.auc > 1 AND AND status = 'x'", "'AND'", 20),
    ("and", "'and'", 0),
    ("metrics.auc > '0.5'", "'0.5'", 14),
    ("metrics.auc IN (1, '2')", "'2'", 19),
    ("metrics.auc LIKE '0.%'", "'LIKE'", 12),
    ("params.lr < '0.1'", "'<'", 10),
    ("tags.team >= 'a'", "'>='", 10),
    ("run_name > 'a'", "'>'", 9),
    ("params.lr = 0.1", "0.1", 12),
    ("params.model LIKE 5", "5", 18),
    ("status = FINISHED", "'FINISHED'", 9),
    ("status IN 'A'", "\"'A'\"", 10),
    ("status IN ('A' 'B')", "\"'B'\"", 15),
    ("status IN ()", "')'", 11),
    ("status NOT 'A'", "\"'A'\"", 11),
    ("start_time > 12abc", "'12abc'", 13),
    ("experiment_id = 'abc'", "'abc'", 16),
    ("start_time > '5'", "'5'", 13),
    ("'status' = 'x'", "\"'status'\"", 0),
    ("`status` = 'x'", "'`status`'", 0),
]


@pytest.mark.parametrize(("filter_string", "token", "position"), BAD_FILTERS)
def test_malformed_filter(filter_string: str, token: str, position: int) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_filter(filter_string)
    error = caught.value
    assert error.field == "filter"
    assert token in error.message
    assert f"at position {position} " in error.message
    assert repr(filter_string) in error.message


def test_malformed_filter_through_search(db: Database) -> None:
    with pytest.raises(InvalidInput) as caught:
        db.read(search_runs, "default", [], filter_string="metrics.auc > 1 AND AND x = 'y'")
    assert str(caught.value) == (
        "unexpected 'AND' at position 20 in filter \"metrics.auc > 1 AND AND x = 'y'\"; "
        "expected a comparison such as metrics.accuracy > 0.9"
    )


def test_limits_on_filter_size() -> None:
    deep = "(" * 60 + "status = 'x'" + ")" * 60
    with pytest.raises(InvalidInput, match="deeper than 50"):
        parse_filter(deep)
    wide = " or ".join(f"status = '{i}'" for i in range(201))
    with pytest.raises(InvalidInput, match="more than 200 comparisons"):
        parse_filter(wide)
    listed = "status IN (" + ", ".join(f"'{i}'" for i in range(5001)) + ")"
    with pytest.raises(InvalidInput, match="more than 5000 values"):
        parse_filter(listed)


def test_long_filters_are_shortened_in_messages() -> None:
    text = "status = 'x' and " * 30 + "nope = 1"
    with pytest.raises(InvalidInput) as caught:
        parse_filter(text)
    assert f"at position {len(text) - 8} " in caught.value.message
    assert "'nope'" in caught.value.message
    assert "…" in caught.value.message
    assert text not in caught.value.message


def test_an_in_list_as_big_as_allowed_runs(world: World) -> None:
    names = ", ".join(["'Ada'"] + [f"'n{i}'" for i in range(4999)])
    assert world.search(f"run_name IN ({names})") == ["Ada"]


# --- the parser on its own ----------------------------------------------------------


def _cmp(kind: str, key: str, op: str, value: object) -> Comparison:
    return Comparison(Identifier(kind, key), op, value)  # type: ignore[arg-type]


def test_and_binds_tighter_than_or() -> None:
    assert parse_filter("status = 'a' or status = 'b' and metrics.x > 1") == Or(
        (
            _cmp("attribute", "status", "=", "a"),
            And((_cmp("attribute", "status", "=", "b"), _cmp("metric", "x", ">", 1))),
        )
    )
    assert parse_filter("(status = 'a' or status = 'b') and metrics.x > 1") == And(
        (
            Or((_cmp("attribute", "status", "=", "a"), _cmp("attribute", "status", "=", "b"))),
            _cmp("metric", "x", ">", 1),
        )
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.x > 1", 1),
        ("metrics.x > -1", -1),
        ("metrics.x > +2", 2),
        ("metrics.x > 0.25", 0.25),
        ("metrics.x > .5", 0.5),
        ("metrics.x > 1.", 1.0),
        ("metrics.x > 1e-3", 0.001),
        ("metrics.x > -2.5E+2", -250.0),
        ("metrics.x>-1", -1),
    ],
)
def test_numbers(text: str, expected: float) -> None:
    node = parse_filter(text)
    assert isinstance(node, Comparison)
    assert node.value == expected
    assert type(node.value) is type(expected)


def test_identifier_spellings() -> None:
    same = [
        "metrics.`train loss` > 1",
        'metrics."train loss" > 1',
        "metric.'train loss' > 1",
        "METRICS.`train loss` > 1",
    ]
    assert {parse_filter(text) for text in same} == {_cmp("metric", "train loss", ">", 1)}
    for text in ("created > 1", "attributes.start_time > 1", "attr.CREATED > 1", "Start_Time > 1"):
        assert parse_filter(text) == _cmp("attribute", "start_time", ">", 1)
    assert parse_filter("tags.`a``b` = 'x'") == _cmp("tag", "a`b", "=", "x")
    assert parse_filter("params.a = 'it''s'") == _cmp("param", "a", "=", "it's")
    assert parse_filter("status not in ('A')") == _cmp("attribute", "status", "NOT IN", ("A",))
    assert parse_filter("status <> 'A'") == _cmp("attribute", "status", "!=", "A")
    assert parse_filter(" \n\t ") is None


def test_order_by_parsing() -> None:
    assert parse_order_by(["metrics.auc DESC", "params.lr", "created asc", "tags.`a b`"]) == (
        OrderTerm(Identifier("metric", "auc"), descending=True),
        OrderTerm(Identifier("param", "lr")),
        OrderTerm(Identifier("attribute", "start_time")),
        OrderTerm(Identifier("tag", "a b")),
    )


@pytest.mark.parametrize(
    ("order_by", "token"),
    [
        (["metrics.auc SIDEWAYS"], "'SIDEWAYS'"),
        (["datasets.name"], "'datasets.name'"),
        (["nope"], "'nope'"),
        (["metrics.auc DESC DESC"], "'DESC'"),
        ([""], "end of order_by entry"),
        ("metrics.auc", "'metrics.auc'"),
    ],
)
def test_bad_order_by(db: Database, order_by: list[str], token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        db.read(search_runs, "default", [], order_by=order_by)
    assert caught.value.field == "order_by"
    assert token in caught.value.message


# --- experiments --------------------------------------------------------------------


def _ms(text: str) -> int:
    """Milliseconds since the epoch, truncated, without float rounding."""
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1000 + moment.microsecond // 1000


@pytest.fixture
def experiments(db: Database) -> Database:
    """fraud (2024-01-01), churn (2024-02-01, updated 2024-03-01), Risk (deleted)."""
    times = {
        "fraud": ("2024-01-01T00:00:00.123456+00:00", "2024-01-05T00:00:00+00:00"),
        "churn": ("2024-02-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00"),
        "Risk": ("2024-01-15T00:00:00+00:00", "2024-01-15T00:00:00+00:00"),
    }
    tags = {"fraud": {"owner": "ana"}, "churn": {"owner": "bob"}, "Risk": {}}

    def make(session: Session) -> None:
        for name, (created, updated) in times.items():
            experiment = create_experiment(session, "default", name, tags=tags[name])
            session.execute(
                update(ExperimentRow)
                .where(ExperimentRow.id == int(experiment.id))
                .values(
                    created_at=datetime.fromisoformat(created),
                    updated_at=datetime.fromisoformat(updated),
                )
            )
        create_experiment(session, "other-project-twin", "fraud")

    db.run(auth.create_project, "other-project-twin")
    db.run(make)
    deleted = db.read(search_experiments, "default", filter_string="name = 'Risk'")[0][0]
    db.run(
        set_experiment_lifecycle,
        "default",
        deleted.id,
        LifecycleStage.DELETED,
    )
    db.run(
        lambda s: s.execute(
            update(ExperimentRow)
            .where(ExperimentRow.id == int(deleted.id))
            .values(updated_at=datetime(2024, 1, 15, tzinfo=UTC))
        )
    )
    return db


CREATED = _ms("2024-01-01T00:00:00.123+00:00")

EXPERIMENT_CASES: list[tuple[str, list[str]]] = [
    ("", ["churn", "fraud"]),
    ("name = 'fraud'", ["fraud"]),
    ("attributes.name != 'fraud'", ["churn"]),
    ("name LIKE 'f%'", ["fraud"]),
    ("name LIKE 'F%'", []),
    ("name ILIKE 'F%'", ["fraud"]),
    ("name IN ('fraud', 'nope')", ["fraud"]),
    ("tags.owner = 'ana'", ["fraud"]),
    ("tags.owner != 'ana'", ["churn"]),
    ("tags.owner ILIKE 'B%'", ["churn"]),
    (f"creation_time = {CREATED}", ["fraud"]),
    (f"creation_time = {CREATED + 1}", []),
    (f"creation_time != {CREATED}", ["churn"]),
    (f"creation_time > {CREATED}", ["churn"]),
    (f"creation_time >= {CREATED}", ["churn", "fraud"]),
    (f"creation_time < {CREATED}", []),
    (f"creation_time <= {CREATED}", ["fraud"]),
    (f"creation_time < {CREATED}.5", ["fraud"]),
    (f"creation_time IN ({CREATED}, 1)", ["fraud"]),
    (f"last_update_time > {_ms('2024-02-01T00:00:00+00:00')}", ["churn"]),
    ("name = 'fraud' or tags.owner = 'bob'", ["churn", "fraud"]),
]


@pytest.mark.parametrize(
    ("filter_string", "expected"), EXPERIMENT_CASES, ids=[c[0] for c in EXPERIMENT_CASES]
)
def test_search_experiments(experiments: Database, filter_string: str, expected: list[str]) -> None:
    found, token = experiments.read(search_experiments, "default", filter_string=filter_string)
    assert sorted(e.name for e in found) == expected
    assert token is None


def test_experiment_order_views_and_paging(experiments: Database) -> None:
    def names(**kwargs: object) -> list[str]:
        found, _ = experiments.read(search_experiments, "default", **kwargs)  # type: ignore[arg-type]
        return [e.name for e in found]

    assert names() == ["churn", "fraud"]  # last_update_time DESC
    assert names(order_by=["name"], view="all") == ["Risk", "churn", "fraud"]
    assert names(order_by=["creation_time DESC"], view="all") == ["churn", "Risk", "fraud"]
    assert names(order_by=["tags.owner DESC"], view="all") == ["churn", "fraud", "Risk"]
    assert names(view="deleted_only") == ["Risk"]
    first, token = experiments.read(
        search_experiments, "default", view="all", order_by=["name"], max_results=2
    )
    assert [e.name for e in first] == ["Risk", "churn"]
    rest, last = experiments.read(
        search_experiments, "default", view="all", order_by=["name"], page_token=token
    )
    assert ([e.name for e in rest], last) == (["fraud"], None)
    assert first[1].tags == {"owner": "bob"}
    with pytest.raises(InvalidInput) as caught:
        experiments.read(search_experiments, "default", page_token=token)
    assert caught.value.field == "page_token"


@pytest.mark.parametrize(
    ("filter_string", "token"),
    [
        ("metrics.auc > 1", "'metrics'"),
        ("status = 'x'", "'status'"),
        ("creation_time = 'yesterday'", "'yesterday'"),
        ("name < 'b'", "'<'"),
    ],
)
def test_bad_experiment_filters(db: Database, filter_string: str, token: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        db.read(search_experiments, "default", filter_string=filter_string)
    assert caught.value.field == "filter"
    assert token in caught.value.message
