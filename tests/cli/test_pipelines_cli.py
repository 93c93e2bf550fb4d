"""``kiln pipelines``: run a pipeline module from the current folder, then inspect its runs."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import Result, as_json, assert_error, check, kiln, kiln_env

MODULE = """
import sys

from kiln.pipelines import pipeline, step


@step
def make(rows: int) -> list:
    print(f"making {rows} rows")
    return list(range(rows))


@step
def total(values: list, fail: bool) -> int:
    if fail:
        print("about to fail", file=sys.stderr)
        raise ValueError("total refused\\nsecond line")
    return sum(values)


@pipeline
def sums(rows: int = 3, fail: bool = False):
    return total(make(rows), fail)


not_a_pipeline = 42
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flows.py").write_text(textwrap.dedent(MODULE))
    return folder


@pytest.fixture
def call(tmp_path: Path, project: Path) -> Any:
    env = kiln_env(tmp_path / "kiln-home")

    def call(*args: str, code: int = 0) -> Result:
        return check(kiln(args, env, cwd=project), code)

    return call


def test_run_prints_steps_and_a_rerun_hits_the_cache(call: Any, project: Path) -> None:
    first = call("pipelines", "run", "flows:sums", "--param", "rows=4")
    assert "sums" in first.stdout
    assert "SUCCEEDED" in first.stdout
    assert "make" in first.stdout
    assert "total" in first.stdout

    again = as_json(call("pipelines", "run", "flows:sums", "--param", "rows=4", "--json"))
    assert again["status"] == "SUCCEEDED"
    assert again["params"] == {"rows": 4, "fail": False}
    assert [(s["invocation"], s["cached"]) for s in again["steps"]] == [
        ("make", True),
        ("total", True),
    ]

    fresh = as_json(call("pipelines", "run", "flows:sums", "-p", "rows=4", "--no-cache", "--json"))
    assert [s["cached"] for s in fresh["steps"]] == [False, False]


def test_run_reads_a_config_and_the_parallel_runner(call: Any, project: Path) -> None:
    (project / "cfg.yaml").write_text("rows: 2\n")
    record = as_json(
        call(
            "pipelines",
            "run",
            "flows:sums",
            "--config",
            "cfg.yaml",
            "--runner",
            "parallel",
            "--json",
        )
    )
    assert record["runner"] == "parallel"
    assert record["params"]["rows"] == 2
    assert record["status"] == "SUCCEEDED"


def test_failed_run_exits_non_zero_then_show_and_logs_explain_it(
    call: Any, tmp_path: Path, project: Path
) -> None:
    env = kiln_env(tmp_path / "kiln-home")
    failed = call("pipelines", "run", "flows:sums", "--param", "fail=true", code=1)
    assert "FAILED" in failed.stdout
    assert "about to fail" in failed.stderr  # the sequential runner still prints step output
    assert "error: pipeline 'sums' run" in failed.stderr
    run_id = failed.stdout.split(" run ", 1)[1].split(":", 1)[0]

    shown = call("pipelines", "show", run_id).stdout
    assert "FAILED" in shown
    assert "total refused" in shown
    assert "second line" not in shown  # the error's first line only
    assert "MiB" in shown  # peak memory of the steps that ran

    # The JSON record holds the step's traceback, so it skips check()'s no-traceback rule.
    raw = kiln(["pipelines", "show", run_id, "--json"], env, cwd=project)
    assert raw.returncode == 0, raw.stderr
    record = as_json(raw)
    assert "ValueError: total refused" in record["steps"][1]["traceback"]
    assert [s["status"] for s in record["steps"]] == ["SUCCEEDED", "FAILED"]

    logs = call("pipelines", "logs", run_id).stdout
    assert "make stdout" in logs
    assert "making 3 rows" in logs
    assert "total stderr" in logs
    assert "about to fail" in logs
    only = call("pipelines", "logs", run_id, "--step", "make").stdout
    assert "making 3 rows" in only
    assert "about to fail" not in only
    assert_error(call("pipelines", "logs", run_id, "--step", "nope", code=3), "nope")


def test_runs_lists_newest_first_with_filters(call: Any) -> None:
    call("pipelines", "run", "flows:sums")
    call("pipelines", "run", "flows:sums", "-p", "rows=5")
    listed = as_json(call("pipelines", "runs", "--json"))
    assert len(listed) == 2
    assert all(r["pipeline"] == "sums" and r["steps"] == [] for r in listed)
    assert listed[0]["start_time"] >= listed[1]["start_time"]
    assert len(as_json(call("pipelines", "runs", "--limit", "1", "--json"))) == 1
    assert as_json(call("pipelines", "runs", "--pipeline", "other", "--json")) == []
    assert "sums" in call("pipelines", "runs").stdout


@pytest.mark.parametrize(
    ("target", "fragment"),
    [
        ("flows:not_a_pipeline", "not a kiln Pipeline"),
        ("flows:missing", "cannot import"),
        ("nowhere:sums", "cannot import"),
        ("flows", "module:function"),
    ],
)
def test_run_refuses_what_is_not_a_pipeline(call: Any, target: str, fragment: str) -> None:
    assert_error(call("pipelines", "run", target, code=6), fragment)


def test_bad_param_and_unknown_run(call: Any) -> None:
    assert_error(call("pipelines", "run", "flows:sums", "--param", "rows", code=6), "key=value")
    assert_error(call("pipelines", "show", "f" * 32, code=3))
