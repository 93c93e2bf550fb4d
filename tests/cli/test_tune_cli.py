"""``kiln tune``: list, show (text and JSON), report and delete over a store with real studies.

In-process through Typer's runner (the studies are made once, by ``kiln.training.tune``);
one console-script run checks that a missing study is an error message with its exit code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kiln.cli import app
from kiln.config import Settings
from kiln.context import Context, using_context
from kiln.errors import NotFound
from kiln.tracking import _fluent
from kiln.training import Float, tune
from kiln.training._studies import get_study
from tests.cli.test_cli import check, kiln, kiln_env
from tests.ui._studies import BROKEN, PARETO, SEARCH, SEARCH_TRIALS, broken, make_studies

pytestmark = pytest.mark.timeout(120)

PROJECT = "default"


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows on one line: the CLI's console was sized when first imported in this worker."""
    from kiln.cli import _output

    monkeypatch.setattr(_output.console, "width", 200)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("tune-cli")
    context = Context(Settings(home=folder, project=PROJECT))
    try:
        make_studies(context)
        yield folder
    finally:
        context.close()


def _tune(home: Path, *args: str, code: int = 0, stdin: str | None = None) -> str:
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    done = runner.invoke(app, ["--home", str(home), "tune", *args], input=stdin)
    assert done.exit_code == code, (done.output, done.exception)
    return done.stdout


def _json(home: Path, *args: str) -> Any:
    return json.loads(_tune(home, *args, "--json"))


def _stored(home: Path, name: str) -> Any:
    context = Context(Settings(home=home, project=PROJECT))
    try:
        return context.db.read(get_study, PROJECT, name)
    finally:
        context.close()


def test_list_shows_every_study_with_counts_and_best(home: Path) -> None:
    text = _tune(home, "list")
    search = _stored(home, SEARCH)
    best = search.best[0]
    row = next(line for line in text.splitlines() if SEARCH in line)
    assert f"{SEARCH_TRIALS}: " in row
    assert f"{search.states['COMPLETE']} complete" in row
    assert "1 fail" in row
    assert f"(trial {best.number})" in row
    assert "Pareto front of" in next(line for line in text.splitlines() if PARETO in line)
    listed = _json(home, "list")
    assert [s["name"] for s in listed] == [BROKEN, PARETO, SEARCH]
    assert all("trials" not in s for s in listed)


def test_show_prints_the_best_trial_importances_report_and_trials(home: Path) -> None:
    search = _stored(home, SEARCH)
    best = search.best[0]
    text = _tune(home, "show", SEARCH)
    assert f"study {SEARCH}: minimize value" in text
    assert f"trials: {SEARCH_TRIALS} (" in text
    assert "sampler tpe, pruner median, seed 1, n_trials 15" in text
    assert f"best trial {best.number}: value" in text
    assert f"(run {best.run_id})" in text
    assert f"  kind = {best.params['kind']}" in text
    assert "importances (value: share of the variation explained)" in text
    assert f"report: tuning/report.html on run {search.parent_run_id}" in text
    assert f"kiln tune report {SEARCH} --out report.html" in text
    assert "cannot train" not in text  # failures are in --json, not the table
    trial_rows = [line for line in text.splitlines() if line.startswith("│")]
    assert len(trial_rows) == SEARCH_TRIALS  # fewer than the default 20: all of them
    assert "newest 3 of 15" in _tune(home, "show", SEARCH, "--trials", "3")

    shown = _json(home, "show", SEARCH)
    assert len(shown["trials"]) == SEARCH_TRIALS
    assert shown["best"][0]["number"] == best.number
    assert set(shown["importances"][0]) == {"x", "y", "kind"}
    assert [t["number"] for t in _json(home, "show", SEARCH, "--trials", "2")["trials"]] == [13, 14]
    assert _json(home, "show", SEARCH, "--trials", "0")["trials"] == []


def test_show_a_pareto_front_and_a_study_with_nothing_complete(home: Path) -> None:
    text = _tune(home, "show", PARETO)
    assert f"study {PARETO}: minimize error, minimize size" in text
    assert "Pareto front (" in text
    assert "importances (error:" in text
    assert "importances (size:" in text
    broken = _tune(home, "show", BROKEN)
    assert "best: no trial completed yet" in broken
    assert "trials: 2 (2 fail)" in broken
    assert "importances" not in broken


def test_report_writes_the_html_page(home: Path, tmp_path: Path) -> None:
    target = tmp_path / "search.html"
    said = _tune(home, "report", SEARCH, "--out", str(target))
    assert str(target) in said
    page = target.read_text(encoding="utf-8")
    assert page.lower().startswith("<!doctype html>")
    assert "Optimization history" in page
    folder = tmp_path / "reports"
    folder.mkdir()
    _tune(home, "report", SEARCH, "--out", str(folder))
    assert (folder / f"{SEARCH}-report.html").read_text(encoding="utf-8") == page
    missing = CliRunner().invoke(
        app, ["--home", str(home), "tune", "report", SEARCH, "--out", str(tmp_path / "no/x.html")]
    )
    assert missing.exit_code == 1
    assert "does not exist" in str(missing.exception)


def test_delete_asks_first_and_keeps_the_runs(home: Path) -> None:
    context = Context(Settings(home=home, project=PROJECT))
    try:
        with using_context(context):
            tune(broken, space={"x": Float(0.0, 1.0)}, n_trials=1, study="doomed", progress=False)
    finally:
        _fluent._reset_for_tests()
        context.close()
    parent = _stored(home, "doomed").parent_run_id
    declined = _tune(home, "delete", "doomed", code=1, stdin="n\n")
    assert "Delete study 'doomed' and its trials (their runs stay)?" in declined
    assert _stored(home, "doomed").name == "doomed"
    assert "deleted study doomed (its runs stay)" in _tune(home, "delete", "doomed", "--yes")
    with pytest.raises(NotFound):
        _stored(home, "doomed")
    run = json.loads(
        CliRunner().invoke(app, ["--home", str(home), "runs", "show", parent, "--json"]).stdout
    )
    assert (run["id"], run["tags"]["kiln.study"]) == (parent, "doomed")


def test_a_missing_study_is_an_error_with_its_exit_code(home: Path) -> None:
    done = check(kiln(["tune", "show", "no-such-study"], kiln_env(home)), 3)
    assert done.stderr.startswith("error: no study 'no-such-study'")
    assert "kiln tune list" in done.stderr
    assert done.stdout == ""
