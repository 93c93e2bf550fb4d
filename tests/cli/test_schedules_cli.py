"""``kiln pipelines schedules``, ``kiln scheduler`` and ``kiln server --scheduler``, as processes.

A schedule that is due now is seeded through the services with a creation
time in the past, so no test waits for a cron minute to come.
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kiln.db import Database, utcnow
from kiln.pipelines import FiringStatus, create_schedule, list_firings
from tests.cli.test_cli import KILN, Result, as_json, assert_error, check, kiln, kiln_env

FLOWS = """
from kiln.pipelines import pipeline, step


@step
def make(rows: int) -> list:
    return list(range(rows))


@step
def total(values: list) -> int:
    return sum(values)


@pipeline
def sums(rows: int = 3):
    return total(make(rows))
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "flows.py").write_text(textwrap.dedent(FLOWS))
    return folder


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kiln-home"


@pytest.fixture
def call(home: Path, project: Path) -> Any:
    env = kiln_env(home)

    def call(*args: str, code: int = 0) -> Result:
        return check(kiln(args, env, cwd=project), code)

    return call


@pytest.fixture
def store(home: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{home / 'kiln.db'}")
    yield database
    database.dispose()


def seed_due(store: Database, project: Path, name: str = "every-minute") -> None:
    """A schedule whose first fire time (a minute boundary) has passed: exactly one is due."""
    store.run(
        create_schedule,
        "default",
        name=name,
        target="flows:sums",
        cron="* * * * *",
        params={"rows": 4},
        workdir=str(project),
        now=utcnow() - timedelta(seconds=60),
    )


def test_create_list_show_enable_disable_delete(call: Any, project: Path) -> None:
    (project / "params.yaml").write_text("rows: 2\n")
    created = call(
        "pipelines",
        "schedules",
        "create",
        "nightly",
        "flows:sums",
        "--cron",
        "0 3 * * *",
        "--timezone",
        "Europe/Paris",
        "--catch-up",
        "all",
        "--config",
        "params.yaml",
        "--param",
        "extra=[1, 2]",
    ).stdout
    assert "schedule nightly created: flows:sums on '0 3 * * *' (Europe/Paris), next at" in created
    assert "03:00 CET" in created or "03:00 CEST" in created

    (listed,) = as_json(call("pipelines", "schedules", "list", "--json"))
    assert listed["name"] == "nightly"
    assert listed["params"] == {"rows": 2, "extra": [1, 2]}
    assert (listed["catch_up"], listed["enabled"], listed["workdir"]) == ("all", True, str(project))
    shown = call("pipelines", "schedules", "show", "nightly").stdout
    assert "catch-up all" in shown
    assert "param extra: [1, 2]" in shown
    assert "no firings yet" in shown

    disabled = as_json(call("pipelines", "schedules", "disable", "nightly", "--json"))
    assert (disabled["enabled"], disabled["next_fire_at"]) == (False, None)
    enabled = as_json(call("pipelines", "schedules", "enable", "nightly", "--json"))
    assert enabled["enabled"] is True
    assert enabled["next_fire_at"] is not None

    deleted = as_json(call("pipelines", "schedules", "delete", "nightly", "--json"))
    assert deleted == {"deleted": "nightly", "project": "default"}
    assert_error(call("pipelines", "schedules", "show", "nightly", code=3), "nightly")
    assert as_json(call("pipelines", "schedules", "list", "--json")) == []


def test_refusals_have_their_exit_codes(call: Any) -> None:
    create = ("pipelines", "schedules", "create", "nightly", "flows:sums", "--cron")
    assert_error(call(*create, "0 25 * * *", code=6), "hour field '25'")
    call(*create, "0 3 * * *")
    assert_error(call(*create, "0 4 * * *", code=4), "already exists")
    assert_error(call("pipelines", "schedules", "enable", "nope", code=3), "nope")


def test_scheduler_once_runs_a_due_schedule(call: Any, store: Database, project: Path) -> None:
    seed_due(store, project)

    result = call("scheduler", "--once", "--json")

    (firing,) = as_json(result)
    assert firing["schedule"] == "every-minute"
    assert firing["status"] == "SUCCEEDED", firing
    assert "started flows:sums as pipeline run" in result.stderr
    shown = as_json(call("pipelines", "schedules", "show", "every-minute", "--json"))
    assert shown["firings"] == [firing]
    assert firing["pipeline_run_id"] is not None
    # The same fire time never fires twice. (On a slow machine a minute boundary may pass
    # between the two calls, and then the next minute's firing is rightly due.)
    again = as_json(call("scheduler", "--once", "--json"))
    assert all(later["fire_time"] > firing["fire_time"] for later in again)


def _start(args: list[str], home: Path, cwd: Path) -> subprocess.Popen[str]:
    assert KILN is not None
    return subprocess.Popen(
        [KILN, *args],
        env=kiln_env(home),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, then the output; the whole process group is killed if it does not stop."""
    try:
        process.send_signal(signal.SIGTERM)
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def test_scheduler_runs_until_stopped(home: Path, project: Path, store: Database) -> None:
    store.engine  # noqa: B018  (migrate before the process opens the store)
    process = _start(["scheduler", "--interval", "0.2"], home, project)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()
    finally:
        stdout, stderr = _stop(process)

    assert "polling every 0.2s" in first
    assert process.returncode == 0, stdout + stderr
    assert "stopped" in stderr
    assert "Traceback" not in stderr


def test_server_runs_the_scheduler(home: Path, project: Path, store: Database) -> None:
    from kiln.server.background import free_port

    seed_due(store, project)
    process = _start(["server", "--port", str(free_port()), "--scheduler"], home, project)
    try:
        deadline = time.monotonic() + 90
        while True:
            found = store.read(list_firings, "default", "every-minute")
            if found and found[0].status not in (FiringStatus.CLAIMED, FiringStatus.STARTED):
                break
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, found
            time.sleep(0.1)
    finally:
        stdout, stderr = _stop(process)

    assert found[0].status is FiringStatus.SUCCEEDED, found[0].error
    assert found[0].pipeline_run_id is not None
    assert process.returncode == 0, stdout + stderr
    assert "runs the pipeline schedules" in stdout
    assert "stopped" in stderr
