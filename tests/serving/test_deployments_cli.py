"""``kiln deployments create|set-traffic|show|rollback|list`` and ``kiln serve -d`` as real
processes over one store."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
import pytest

import kiln
from kiln import registry
from kiln.models import log_model
from kiln.tracking import _fluent
from tests.serving._models import Scorer, scorer_example
from tests.serving.conftest import wait_ready
from tests.serving.test_serve_cli import KILN, start


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A store (the default SQLite in ``home``) with ``scorer`` v1 and v2 registered."""
    home = tmp_path / "home"
    kiln.configure(home=home)
    try:
        for offset in (100.0, 200.0):
            with kiln.start_run(experiment="cli"):
                logged = log_model(
                    Scorer(offset=offset),
                    "model",
                    input_example=scorer_example(),
                    allow_pickle=True,
                )
            registry.register_model(logged, "scorer")
        registry.set_alias("scorer", "champion", 1)
    finally:
        _fluent._reset_for_tests()
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()
    return home


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert KILN is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(home), NO_COLOR="1", COLUMNS="200")
    return subprocess.run(
        [KILN, "deployments", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_deployment_records_from_the_cli(home: Path) -> None:
    made = run(home, "create", "fraud", "--arm", "scorer@champion=90", "--arm", "scorer/2=10")
    assert made.returncode == 0, made.stderr
    assert "fraud revision 1 (split): scorer@champion 90%, scorer/2 10%" in made.stdout
    bad = run(home, "set-traffic", "fraud", "--arm", "scorer/1=90", "--arm", "scorer/2=5")
    assert bad.returncode == 6
    assert "100" in bad.stderr
    assert "Traceback" not in bad.stderr
    moved = run(home, "set-traffic", "fraud", "--arm", "scorer/2", "--note", "all in")
    assert "revision 2" in moved.stdout, moved.stderr
    assert "revision 3" in run(home, "rollback", "fraud").stdout
    shown = run(home, "show", "fraud")
    assert "r2 set" in shown.stdout
    assert "all in" in shown.stdout
    assert "r3 rollback" in shown.stdout
    listed = json.loads(run(home, "list", "--json").stdout)
    assert [(d["name"], d["revision"]) for d in listed] == [("fraud", 3)]
    assert run(home, "show", "nope").returncode == 3


def test_serve_a_deployment(home: Path) -> None:
    assert run(home, "create", "fraud", "--arm", "scorer@champion").returncode == 0
    root = str(Path(__file__).resolve().parents[2])
    os.environ["PYTHONPATH"] = root  # start() copies the environment
    try:
        process, url = start(home, "--deployment", "fraud", "--allow-pickle")
    finally:
        del os.environ["PYTHONPATH"]
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert wait_ready(client).status_code == 200
            row = {"amount": 1.0, "count": 0, "city": "x"}
            body = client.post("/v1/deployments/fraud/predict", json={"records": [row]}).json()
            assert (body["predictions"], body["arm"], body["version"]) == (
                [102.0],
                "scorer@champion",
                "1",
            )
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode == 0
