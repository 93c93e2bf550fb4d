"""``kiln pipelines resume``, ``kiln alerts`` and ``kiln lineage`` on a gated pipeline."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import Result, as_json, assert_error, check, kiln, kiln_env

MODULE = """
import pandas as pd

import kiln.data
from kiln.pipelines import pipeline, step


@step
def ingest(source: str) -> str:
    return kiln.data.register_dataset(pd.read_csv(source), "events").uri


@step
def count(ref: str) -> int:
    return len(kiln.data.load(ref))


@pipeline
def flow(source: str = "good.csv"):
    ref = ingest(source)
    return count(kiln.data.check(ref, reference="events@1"))
"""


@pytest.fixture
def call(tmp_path: Path) -> Any:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flows.py").write_text(textwrap.dedent(MODULE))
    (folder / "good.csv").write_text("x,kind\n" + "".join(f"{i},a\n" for i in range(50)))
    (folder / "bad.csv").write_text("x,kind\n" + "".join(f"{i * 100},z\n" for i in range(50)))
    env = kiln_env(tmp_path / "kiln-home")

    def call(*args: str, code: int = 0) -> Result:
        return check(kiln(args, env, cwd=folder), code)

    return call


def test_a_paused_run_is_shown_listed_and_resumed(call: Any) -> None:
    assert as_json(call("pipelines", "run", "flows:flow", "--json"))["status"] == "SUCCEEDED"
    paused = as_json(call("pipelines", "run", "flows:flow", "-p", "source=bad.csv", "--json"))
    assert paused["status"] == "PAUSED"

    [alert] = as_json(call("alerts", "list", "--json"))
    assert alert["status"] == "OPEN"
    shown = call("alerts", "show", str(alert["id"])).stdout
    assert "categories[kind]" in shown
    assert "report: blob" in shown

    resumed = call("pipelines", "resume", paused["id"], "--accept")
    assert "SUCCEEDED" in resumed.stdout
    assert as_json(call("alerts", "list", "--json"))[0]["status"] == "ACCEPTED"
    assert_error(call("pipelines", "resume", paused["id"], code=5), "only PAUSED or FAILED")


def test_lineage_prints_the_tree_and_marks_nothing_stale(call: Any) -> None:
    call("pipelines", "run", "flows:flow")
    tree = call("lineage", "dataset:events@1", "--downstream").stdout
    assert "downstream of" in tree
    assert "events@1" in tree
    assert "count" in tree
    graph = as_json(call("lineage", "dataset:events@1", "--json"))
    assert graph["root"].startswith("dataset_version:")
    assert {node["kind"] for node in graph["nodes"]} >= {"dataset_version", "step_run"}
    assert_error(call("lineage", "dataset:nope", code=3), "no dataset 'nope'")
    assert_error(call("lineage", "nonsense", code=6), "expected a lineage node")
