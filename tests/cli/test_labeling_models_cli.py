"""``kiln labeling preannotate / next-batch / label-errors / intake`` with a real registered
scikit-learn model: text and ``--json``; refused predictions are a table and exit 0; bad
input is an error naming the option, and from the console script a message and exit 6.

In-process through Typer's runner over a store seeded by ``tests/labeling/_models.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from kiln.cli import app
from kiln.config import Settings
from kiln.context import Context
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.labeling import Task
from kiln.labeling._tasks import list_tasks, review_queue
from kiln.tracking import _fluent
from tests.cli.test_cli import assert_error, check, kiln, kiln_env
from tests.labeling._models import (
    DEPLOYMENT,
    FLIPPED,
    doubted,
    iris_model,
    iris_project,
    label_all,
    log_predictions,
    unsure_keys,
)
from tests.ui._labeling import make_projects

pytestmark = pytest.mark.timeout(180)

PROJECT = "default"
CHAMPION = "models:/iris@champion"


@dataclass(frozen=True)
class Store:
    home: Path
    model: LogisticRegression
    uri: str


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows on one line: the CLI's console was sized when first imported in this worker."""
    from kiln.cli import _output

    monkeypatch.setattr(_output.console, "width", 200)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    folder = tmp_path_factory.mktemp("labeling-models-cli")
    context = Context(Settings(home=folder, project=PROJECT))
    try:
        make_projects(context, with_model=False)
        model, uri = iris_model(context)
        for name in ("iris", "iris-batch", "noisy", "noisy-registered", "iris-review"):
            iris_project(context, name)
        iris_project(context, "two-kinds", ["setosa", "versicolor"])
        label_all(context, "noisy")
        label_all(context, "noisy-registered")
        log_predictions(context, model, 1)
        yield Store(folder, model, uri)
    finally:
        _fluent._reset_for_tests()
        context.close()


def _labeling(store: Store, *args: str) -> str:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    done = runner.invoke(app, ["--home", str(store.home), "labeling", *args])
    assert done.exit_code == 0, (done.output, done.exception)
    return done.stdout


def _refused(store: Store, *args: str) -> KilnError:
    """The error a command raised (``main()`` prints it with its exit code)."""
    done = CliRunner().invoke(app, ["--home", str(store.home), "labeling", *args])
    assert done.exit_code == 1
    assert isinstance(done.exception, KilnError), done.exception
    return done.exception


def _tasks(store: Store, name: str) -> dict[str, Task]:
    context = Context(Settings(home=store.home, project=PROJECT))
    try:
        found, _ = context.db.read(list_tasks, PROJECT, name, limit=1000)
        return {t.item_key: t for t in found}
    finally:
        context.close()


def test_preannotate_reports_what_it_applied_and_tables_the_refusals(store: Store) -> None:
    out = _labeling(store, "preannotate", "iris", "--model", CHAMPION)
    assert f"pre-annotated 150 open tasks of iris with {CHAMPION}; 0 predictions refused" in out

    out = _labeling(store, "preannotate", "two-kinds", "--model", store.uri)  # exit 0
    assert "predictions refused" in out
    lines = [line for line in out.splitlines() if "virginica" in line]
    assert lines
    assert "not one of the project's labels" in lines[0]

    report = json.loads(_labeling(store, "preannotate", "two-kinds", "--model", CHAMPION, "--json"))
    assert report["model"] == CHAMPION
    assert report["rejected"]
    assert report["applied"] + len(report["rejected"]) == 150
    assert set(report["rejected"][0]) == {"task_id", "item_key", "prediction", "reason"}


def test_next_batch_tables_the_tasks_put_first(store: Store) -> None:
    out = _labeling(
        store, "next-batch", "iris-batch", "--model", store.uri, "-k", "5", "--strategy", "margin"
    )
    assert "5 tasks now first in the queue of iris-batch" in out
    picked = json.loads(
        _labeling(store, "next-batch", "iris-batch", "--model", store.uri, "-k", "5", "--json")
    )["tasks"]
    assert {t["item_key"] for t in picked} == doubted(store.model, 5)
    for task in picked:
        row = next(line for line in out.splitlines() if f" {task['id']} " in line)
        assert task["prediction"]["label"] in row
    args = f"next-batch iris-batch --model {CHAMPION} -k 3 --diversity --strategy random"
    spread = _labeling(store, *args.split(), "--seed", "4", "--json")
    assert len(json.loads(spread)["tasks"]) == 3


def test_label_errors_flag_the_planted_mistakes_with_a_default_or_a_registered_model(
    store: Store,
) -> None:
    planted = {t.id for key, t in _tasks(store, "noisy").items() if int(key) in FLIPPED}
    out = _labeling(store, "label-errors", "noisy")
    assert "likely label errors for review" in out
    assert "/labeling/noisy/review" in out
    context = Context(Settings(home=store.home, project=PROJECT))
    try:
        queue = {t.id for t in context.db.read(review_queue, PROJECT, "noisy", limit=100)}
    finally:
        context.close()
    assert planted <= queue

    args = f"label-errors noisy-registered --model {CHAMPION} --folds 4 --json".split()
    found = json.loads(_labeling(store, *args))
    tasks = _tasks(store, "noisy-registered")
    assert {tasks[str(row)].id for row in FLIPPED} <= set(found["flagged"])
    assert (found["model"], found["folds"]) == (CHAMPION, 4)


def test_intake_reads_the_window_and_adds_the_unsure_answers_once(store: Store) -> None:
    unsure = unsure_keys(store.model, 0.9)
    args = ("intake", "iris-review", "--deployment", DEPLOYMENT, "--threshold", "0.9")
    out = _labeling(store, *args, "--since", "2026-12-01")
    assert (
        f"read 15 requests (150 rows) of {DEPLOYMENT}: {len(unsure)} less sure than 0.9, "
        f"{len(unsure)} new tasks in iris-review"
    ) in out
    assert set(_tasks(store, "iris-review")) >= unsure
    window = "--since 2026-12-01T00:00Z --until 2026-12-02 --score-output probabilities"
    again = json.loads(_labeling(store, *args, *window.split(), "--json"))
    assert again == {
        "requests": 15,
        "rows": 150,
        "unsure": len(unsure),
        "added": 0,
        "unscored": 0,
    }


def test_bad_input_is_refused_naming_the_option(store: Store) -> None:
    intake = ("intake", "iris-review", "--deployment", DEPLOYMENT)
    for args, kind, field in (
        (("preannotate", "nope", "--model", CHAMPION), NotFound, None),
        (("preannotate", "iris", "--model", "models:/nope/1"), NotFound, "model"),
        (("preannotate", "iris", "--model", "./some/folder"), InvalidInput, "model"),
        (("next-batch", "iris", "--model", CHAMPION, "-k", "0"), InvalidInput, "k"),
        (
            ("next-batch", "iris", "--model", CHAMPION, "--strategy", "best"),
            InvalidInput,
            "strategy",
        ),
        (("next-batch", "iris", "--model", CHAMPION, "--seed", "-1"), InvalidInput, "seed"),
        (("label-errors", "iris-review", "--folds", "5"), InvalidInput, "folds"),
        (("label-errors", "noisy", "--model", "models:/iris@nobody"), NotFound, "model"),
        ((*intake, "--threshold", "1.5"), InvalidInput, "threshold"),
        ((*intake, "--threshold", "0.5", "--since", "yesterday"), InvalidInput, "--since"),
    ):
        refused = _refused(store, *args)
        assert isinstance(refused, kind), (args, refused)
        if field is not None:
            assert refused.field == field, (args, refused.field)


def test_the_console_script_prints_the_message_and_exits_6(store: Store) -> None:
    args = f"labeling intake iris-review --deployment {DEPLOYMENT} --threshold 1.5".split()
    result = check(kiln(args, kiln_env(store.home)), 6)
    assert_error(result, "threshold must be above 0 and at most 1")
