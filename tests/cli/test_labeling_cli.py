"""``kiln labeling``: create from a schema file and a dataset version, list, show, tasks,
export to a dataset version or a file (or as a background job), delete; bad input is an
error naming the option.

In-process through Typer's runner over a store seeded by ``tests/ui/_labeling.py`` (no
model); one console-script run checks an unknown project's message and exit code.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kiln.cli import app
from kiln.config import Settings
from kiln.context import Context, using_context
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.labeling._projects import get_project
from kiln.labeling._tasks import next_task, review_task, submit
from kiln.tracking import _fluent
from tests.cli.test_cli import check, kiln, kiln_env
from tests.ui._labeling import DATASET, DONE, ENTITIES, SENTIMENT, SENTIMENT_SCHEMA, make_projects

pytestmark = pytest.mark.timeout(120)

PROJECT = "default"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows on one line: the CLI's console was sized when first imported in this worker."""
    from kiln.cli import _output

    monkeypatch.setattr(_output.console, "width", 200)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("labeling-cli")
    context = Context(Settings(home=folder, project=PROJECT))
    try:
        make_projects(context, with_model=False)
        # Two disagreements on sentiment: r0 decided by a reviewer, r1 still waiting.
        decided = None
        for answers in (("positive", "neutral"), ("negative", "neutral")):
            task = context.db.read(next_task, PROJECT, SENTIMENT, "ana")
            assert task is not None
            decided = decided or task.id
            for who, label in zip(("ana", "ben"), answers, strict=True):
                context.db.run(submit, PROJECT, SENTIMENT, task.id, who, label)
        assert decided is not None
        context.db.run(review_task, PROJECT, SENTIMENT, decided, "rita", "positive")
        yield folder
    finally:
        _fluent._reset_for_tests()
        context.close()


def _labeling(home: Path, *args: str, code: int = 0, stdin: str | None = None) -> str:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    done = runner.invoke(app, ["--home", str(home), "labeling", *args], input=stdin)
    assert done.exit_code == code, (done.output, done.exception)
    return done.stdout


def _refused(home: Path, *args: str) -> KilnError:
    """The error a command raised (``main()`` would print it with its exit code)."""
    done = CliRunner().invoke(app, ["--home", str(home), "labeling", *args])
    assert done.exit_code == 1
    assert isinstance(done.exception, KilnError), done.exception
    return done.exception


def _stored(home: Path, name: str) -> Any:
    context = Context(Settings(home=home, project=PROJECT))
    try:
        return context.db.read(get_project, PROJECT, name)
    finally:
        context.close()


def test_create_from_a_yaml_or_json_schema_and_a_dataset(home: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text(
        "task_type: classification\ndata_kind: text\ntext_field: text\n"
        "labels: [positive, negative, neutral]\nshortcuts: [p, n, u]\n",
        encoding="utf-8",
    )
    said = _labeling(
        home,
        "create",
        "cli-made",
        "--schema",
        str(schema),
        "--dataset",
        f"{DATASET}@1",
        "--overlap",
        "2",
        "--key-column",
        "review_id",
        "--gold-column",
        "known",
    )
    assert "created labeling project cli-made (classification, 6 tasks, 2 answer(s) each)" in said
    stored = _stored(home, "cli-made")
    assert (stored.overlap, stored.source, stored.schema.shortcuts) == (
        2,
        f"{DATASET}@1",
        ("p", "n", "u"),
    )
    as_json = tmp_path / "schema.json"
    as_json.write_text(json.dumps(SENTIMENT_SCHEMA), encoding="utf-8")
    args = ["--schema", str(as_json), "--dataset", f"{DATASET}@1", "--limit", "2", "--json"]
    made = json.loads(_labeling(home, "create", "cli-json", *args))
    assert made["counts"]["tasks"] == 2


def test_create_refuses_bad_input_and_leaves_nothing_behind(home: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({**SENTIMENT_SCHEMA, "labels": []}), encoding="utf-8")
    refused = _refused(home, "create", "bad", "--schema", str(schema))
    assert isinstance(refused, InvalidInput)
    assert refused.field == "schema.labels"
    schema.write_text("[1, 2", encoding="utf-8")
    assert _refused(home, "create", "bad", "--schema", str(schema)).field == "schema"
    schema.write_text(json.dumps(SENTIMENT_SCHEMA), encoding="utf-8")
    missing = _refused(home, "create", "bad", "--schema", str(schema), "--dataset", "nope@1")
    assert isinstance(missing, NotFound)
    column = _refused(
        home,
        "create",
        "bad",
        "--schema",
        str(schema),
        "--dataset",
        f"{DATASET}@1",
        "--key-column",
        "nope",
    )
    assert column.field == "key_column"
    with pytest.raises(NotFound):
        _stored(home, "bad")
    unreadable = _refused(home, "create", "bad", "--schema", str(tmp_path / "none.json"))
    assert unreadable.field == "schema"


def test_list_and_show_say_how_far_each_project_got(home: Path) -> None:
    text = _labeling(home, "list")
    row = next(line for line in text.splitlines() if f" {SENTIMENT} " in line)
    assert "classification / text" in row
    assert "2/6" in row  # r0 reviewed, r1 complete (and waiting for review)
    listed = {p["name"]: p for p in json.loads(_labeling(home, "list", "--json"))}
    assert listed[DONE]["counts"]["complete"] == 1
    shown = _labeling(home, "show", SENTIMENT)
    assert "labeling project sentiment: classification on text" in shown
    assert "labels: positive [1], negative [2], neutral [3]" in shown
    assert "answers per task (overlap): 2" in shown
    assert f"source: {DATASET}@1" in shown
    assert "tasks: 6 (4 open, 1 complete, 1 reviewed)" in shown
    assert "needs review: 1" in shown
    assert json.loads(_labeling(home, "show", ENTITIES, "--json"))["schema"]["task_type"] == "ner"


def test_tasks_lists_by_status_and_refuses_an_unknown_status(home: Path) -> None:
    text = _labeling(home, "tasks", SENTIMENT)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(rows) == 6
    assert "1-6 of 6" in text
    reviewed = _labeling(home, "tasks", SENTIMENT, "--status", "reviewed")
    row = next(line for line in reviewed.splitlines() if " r0 " in line)
    assert "reviewed" in row
    assert "positive" in row
    assert "rita" in row
    assert "1-1 of 1 reviewed" in reviewed
    waiting = next(
        line for line in _labeling(home, "tasks", SENTIMENT).splitlines() if " r1 " in line
    )
    assert "needs review" in waiting
    body = json.loads(_labeling(home, "tasks", SENTIMENT, "--status", "open", "--json"))
    assert body["total"] == 4
    assert _refused(home, "tasks", SENTIMENT, "--status", "done").field == "status"


def test_agreement_prints_the_statistics_and_each_annotator(home: Path) -> None:
    text = _labeling(home, "agreement", SENTIMENT)
    assert "tasks with answers: 2; Krippendorff's alpha" in text
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ")}
    assert set(rows) >= {"ana", "ben"}
    body = json.loads(_labeling(home, "agreement", SENTIMENT, "--json"))
    assert body["tasks_shared"] == 2
    assert {a["annotator"]: a["answers"] for a in body["annotators"]} == {"ana": 2, "ben": 2}


def test_export_to_a_dataset_version_and_to_files(home: Path, tmp_path: Path) -> None:
    said = _labeling(home, "export", SENTIMENT, "--dataset", "sentiment-labels")
    assert "exported 2 labelled tasks as sentiment-labels@1" in said
    context = Context(Settings(home=home, project=PROJECT))
    try:
        with using_context(context):
            import kiln.data

            frame = kiln.data.load("sentiment-labels@1")
    finally:
        _fluent._reset_for_tests()
        context.close()
    assert dict(zip(frame["item_key"], frame["label"], strict=True)) == {
        "r0": "positive",
        "r1": "negative",
    }
    lines = tmp_path / "labels.jsonl"
    assert "wrote 2 labelled tasks" in _labeling(home, "export", SENTIMENT, "--out", str(lines))
    rows = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    assert [r["reviewed_by"] for r in rows] == ["rita", None]
    table = tmp_path / "labels.csv"
    _labeling(home, "export", SENTIMENT, "--out", str(table))
    with table.open(encoding="utf-8", newline="") as handle:
        assert [r["label"] for r in csv.DictReader(handle)] == ["positive", "negative"]
    assert _refused(home, "export", SENTIMENT).field == "dataset"
    both = _refused(home, "export", SENTIMENT, "--dataset", "d", "--out", str(lines))
    assert isinstance(both, InvalidInput)
    wrong = _refused(home, "export", SENTIMENT, "--out", str(tmp_path / "labels.txt"))
    assert wrong.field == "out"
    empty = _refused(home, "export", "photos", "--dataset", "photo-labels")
    assert "no labelled task yet" in str(empty)


def test_export_in_the_background_submits_a_job_to_follow(home: Path, tmp_path: Path) -> None:
    from kiln.training._job_control import list_jobs, wait_job
    from kiln.training._jobs import JobStatus

    said = _labeling(home, "export", SENTIMENT, "--dataset", "bg-labels", "--background")
    found = re.search(r"job (\d+) \(export-sentiment\) exports the labels", said)
    assert found is not None, said
    job_id = int(found.group(1))
    assert f"follow it with `kiln jobs logs {job_id} --follow`" in said
    as_json = json.loads(
        _labeling(home, "export", SENTIMENT, "--dataset", "bg-json", "--background", "--json")
    )
    assert as_json["entry"] == "kiln.labeling._export_job:main"
    assert as_json["args"][:2] == [SENTIMENT, "bg-json"]
    context = Context(Settings(home=home, project=PROJECT))
    try:
        for number, dataset in ((job_id, "bg-labels"), (as_json["id"], "bg-json")):
            output: list[str] = []
            job = wait_job(number, timeout=180, on_output=output.append, context=context)
            assert job.status is JobStatus.SUCCEEDED, (job.failure, output)
            assert f"registered {dataset}@1" in "".join(output)
            with using_context(context):
                import kiln.data

                frame = kiln.data.load(f"{dataset}@1")
            labels = dict(zip(frame["item_key"], frame["label"], strict=True))
            assert labels == {"r0": "positive", "r1": "negative"}
        before = len(list_jobs(limit=1000, context=context))
        out = str(tmp_path / "x.csv")
        wrong = _refused(home, "export", SENTIMENT, "--out", out, "--background")
        assert wrong.field == "background"
        empty = _refused(home, "export", "photos", "--dataset", "photo-labels", "--background")
        assert empty.field == "name"
        bad = _refused(home, "export", SENTIMENT, "--dataset", "a@b", "--background")
        assert bad.field == "dataset"
        assert len(list_jobs(limit=1000, context=context)) == before
    finally:
        _fluent._reset_for_tests()
        context.close()


def test_delete_asks_first(home: Path, tmp_path: Path) -> None:
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SENTIMENT_SCHEMA), encoding="utf-8")
    _labeling(home, "create", "doomed", "--schema", str(schema))
    declined = _labeling(home, "delete", "doomed", code=1, stdin="n\n")
    assert "Delete labeling project 'doomed', its tasks and every answer?" in declined
    assert _stored(home, "doomed").name == "doomed"
    assert "deleted labeling project doomed" in _labeling(home, "delete", "doomed", "--yes")
    with pytest.raises(NotFound):
        _stored(home, "doomed")


def test_an_unknown_project_is_an_error_with_its_exit_code(home: Path) -> None:
    done = check(kiln(["labeling", "show", "no-such-project"], kiln_env(home)), 3)
    assert done.stderr.startswith("error: no labeling project 'no-such-project'")
    assert "kiln labeling list" in done.stderr
    assert done.stdout == ""
