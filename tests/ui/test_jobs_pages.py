"""The job pages in a real browser: the list (status, name, entry, runner, duration, CPU, peak
memory); a job's page (status, entry and resources, its run, usage, its output); a running job
whose output arrives live and which is cancelled from its page, its whole process tree gone.

Seeded in project ``job-shop`` of the demo store by real jobs (``tests/ui/_jobs.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.training._jobs import PIDS, assert_gone
from tests.ui._jobs import PROJECT, JobSeed, context_for, seed, start_tree
from tests.ui.test_accessibility import _CONTRAST, _UNLABELLED

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> JobSeed:
    return seed(ui_home, tmp_path_factory)


def _open(page: Any, ui_server: str, path: str) -> None:
    """``path`` in the jobs' project (the switcher's cookie, as a person would)."""
    page.goto(f"{ui_server}/projects/switch?project={PROJECT}&next=/jobs")
    page.wait_for_url("**/jobs")
    if path != "/jobs":
        page.goto(ui_server + path)


def test_the_list_shows_each_jobs_status_and_usage(
    page: Any, ui_server: str, seeded: JobSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/jobs")
    expect(page.get_by_role("heading", level=1)).to_have_text("Training jobs")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Jobs")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name=re.compile("Training jobs of the project"))
    rows = table.locator("tbody tr")
    failed = rows.filter(has=page.get_by_role("link", name="prepare", exact=True))
    expect(failed.locator("td").nth(1)).to_have_text("failed")
    expect(failed.locator("td").nth(3)).to_have_text("prepare.py")
    trained = rows.filter(has=page.get_by_role("link", name="train", exact=True))
    cells = trained.locator("td")
    expect(cells.nth(1)).to_have_text("succeeded")
    expect(cells.nth(3)).to_have_text("train.py --epochs 3")
    expect(cells.nth(4)).to_have_text("local")
    expect(cells.nth(6)).to_have_text(re.compile(r"^\d+(\.\d)? s$|ms$"))
    expect(cells.nth(7)).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(cells.nth(8)).to_have_text(re.compile(r"^\d+\.\d MiB$"))
    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate(_UNLABELLED) == []
    shoot(page, "jobs")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/jobs?status=failed")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)


def test_a_jobs_page_shows_its_status_resources_run_usage_and_output(
    page: Any, ui_server: str, seeded: JobSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/jobs")
    page.get_by_role("link", name="train", exact=True).click()
    page.wait_for_url(f"**/jobs/{seeded.succeeded.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("train")
    facts = page.locator("dl.facts")
    expect(facts.locator("#job-status")).to_have_text("succeeded")
    expect(facts).to_contain_text("train.py --epochs 3")
    expect(facts).to_contain_text("2 CPU · 0 GPU · memory 953.7 MiB")
    run_link = page.get_by_role("link", name=seeded.succeeded.run_id[:12])  # type: ignore[index]
    expect(run_link).to_have_attribute("href", f"/runs/{seeded.succeeded.run_id}")
    expect(page.locator("#usage-cpu")).to_have_text(re.compile(r"^\d+\.\d s$"))
    expect(page.locator("#usage-memory")).to_have_text(re.compile(r"MiB$"))
    expect(page.locator("#usage-gpu")).to_have_text("—")
    log = page.get_by_label(re.compile("^Output of job"))
    expect(log).to_have_text(
        "epoch 0: loss 1.000\nepoch 1: loss 0.500\nepoch 2: loss 0.333\na warning on stderr\n"
    )
    expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)  # it has ended
    assert page.evaluate(_CONTRAST) == []
    shoot(page, "job")

    page.goto(f"{ui_server}/jobs/{seeded.failed.id}")
    expect(page.locator("#job-status")).to_have_text("failed")
    expect(page.locator("dl.facts")).to_contain_text("the job process exited with code 4")


def test_a_running_job_is_followed_live_and_cancelled_from_its_page(
    page: Any, ui_server: str, ui_home: Path, seeded: JobSeed, shoot: Callable[[Any, str], Path]
) -> None:
    job = start_tree(ui_home, seeded)
    try:
        _open(page, ui_server, f"/jobs/{job.id}")
        log = page.get_by_label(re.compile("^Output of job"))
        expect(log).to_have_text(PIDS, timeout=30_000)  # arrives without a reload
        expect(page.locator("#job-status")).to_contain_text("running")
        pids = [int(pid) for pid in PIDS.search(log.inner_text()).group(1).split()]  # type: ignore[union-attr]
        shoot(page, "job-running")
        page.get_by_role("button", name="Cancel job").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text(f"Cancel job {job.id} (tree)?")
        dialog.get_by_role("button", name="Confirm").click()
        expect(page.locator("#job-status")).to_have_text("cancelled", timeout=30_000)
        expect(page.locator("dl.facts")).to_contain_text("cancelled; its processes were ended")
        expect(page.get_by_role("button", name="Cancel job")).to_have_count(0)
        assert_gone(pids)
        shoot(page, "job-cancelled")
    finally:
        from kiln.errors import Conflict
        from kiln.training._job_control import cancel_job

        context = context_for(ui_home)
        try:
            cancel_job(job.id, context=context)
        except Conflict:  # ended, as it should have
            pass
        finally:
            context.close()
