"""The Pipelines pages in a real browser: the runs list, a paused run's DAG, failed checks and
logs, resuming it with the button until it SUCCEEDED, and the schedules page.

The runs are the tests' own (``tests/ui/_seed.py``): a small pipeline whose gate paused.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.server import _pipelines
from tests.ui import _seed

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> _seed.Seeded:
    return _seed.seed(ui_home, tmp_path_factory)


def test_a_paused_run_is_highlighted_and_shows_its_dag_failed_checks_and_logs(
    page: Any, ui_server: str, seeded: _seed.Seeded, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/pipelines?pipeline=gated")
    assert page.title() == "Pipeline runs · Kiln"
    table = page.get_by_role("table", name="Pipeline runs, newest first")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=seeded.shown[:8]))
    expect(row).to_have_class("row-paused")
    expect(row).to_contain_text("paused")
    expect(row).to_contain_text("needs a person")
    expect(page.get_by_role("status").filter(has_text="paused run")).to_be_visible()
    row.get_by_role("link", name=seeded.shown[:8]).click()
    page.wait_for_url(f"**/pipelines/runs/{seeded.shown}")

    # The DAG: a box per step with its status as text, and the same edges as a list.
    dag = page.get_by_role("group", name=f"Steps of gated run {seeded.shown[:8]}")
    expect(dag.locator("a.graph-node")).to_have_count(4)
    expect(dag.locator("a.graph-node.status-paused")).to_contain_text("check")
    expect(dag.locator("a.graph-node.status-paused")).to_contain_text("paused")
    expect(dag.locator("a.graph-node.status-succeeded")).to_contain_text("pick")
    expect(dag.locator("a.graph-node.status-pending")).to_have_count(2)
    expect(dag.locator(".edges path")).to_have_count(3)
    edges = page.locator(".graph-links li")
    expect(edges).to_have_text(["pick → check", "check → rows", "rows → summary"])

    # What the gate found, and what to do about it.
    checks = page.get_by_role("table", name="Failed checks of gate check")
    expect(checks.get_by_role("row").filter(has_text="range")).to_contain_text("amount")
    expect(checks.get_by_role("row").filter(has_text="categories")).to_contain_text("kind")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Accept and resume")).to_be_visible()
    shoot(page, "pipeline-run-paused")

    # Each step's record: the box links to it, its output and its log are there.
    dag.locator("a.graph-node", has_text="pick").click()
    pick = page.locator("#step-pick")
    expect(pick).to_contain_text("builtins.str")
    pick.get_by_text("stdout").click()
    expect(pick.locator("pre.log-text")).to_have_text("picked events@latest\n")


def test_resume_runs_the_paused_run_on_to_success(
    page: Any, ui_server: str, seeded: _seed.Seeded, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(f"{ui_server}/pipelines/runs/{seeded.to_resume}")
    status = page.locator("dl.facts dd").first
    expect(status).to_have_text("paused")
    page.get_by_role("button", name="Resume", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Resume run {seeded.to_resume[:8]}?")
    dialog.get_by_role("button", name="Confirm").click()
    # The page reloads (every few seconds while RUNNING) until the run ends.
    expect(status).to_contain_text("succeeded", timeout=90_000)
    expect(page.locator("dl.facts").first).to_contain_text("Resumed1 time")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_have_count(0)
    steps = page.get_by_role("table", name="Steps of the run, in call order")
    expect(steps.locator(".status-succeeded")).to_have_count(4)
    expect(page.locator("#step-summary")).to_contain_text("json")
    shoot(page, "pipeline-run-resumed")


def test_schedules_list_cron_next_fire_time_and_state(
    page: Any, ui_server: str, ui_home: Path, seeded: _seed.Seeded
) -> None:
    env = _pipelines.environment(_seed.settings(ui_home))
    command = [sys.executable, "-m", "kiln", "pipelines", "schedules", "create", "ui-nightly"]
    subprocess.run(
        [*command, f"{_pipelines.MODULE}:gated", "--cron", "0 3 * * *", "--timezone", "UTC"],
        cwd=seeded.folder,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    page.goto(ui_server + "/pipelines/schedules")
    row = page.get_by_role("table", name="Schedules of the project, by name").locator(
        "#schedule-ui-nightly"
    )
    expect(row).to_contain_text("0 3 * * *")
    expect(row).to_contain_text(f"{_pipelines.MODULE}:gated")
    expect(row).to_contain_text("enabled")
    expect(row).to_contain_text("never fired")
    expect(row.locator("time")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d 03:00:00 UTC"))
