"""The study pages in a real browser: the list with each study's trials by state and best
value; a study's best trial linking to its run, its plots drawn by plotly (history with the
best so far, parallel coordinates, a slice per parameter, intermediate values, importances),
its trials table and the report's download; a Pareto front; a study with nothing complete;
an unknown study's 404 page; an editor deleting a study and a viewer offered no such button.

Seeded in project ``tuning-shop`` of the demo store by ``tests/ui/_studies.py``: real
``kiln.training.tune`` studies (a 15-trial search with intermediate values, pruned trials
and a failed one; a two-objective study; a study whose every trial failed).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.context import Context, using_context
from kiln.tracking import _fluent
from kiln.training import Float, tune
from kiln.training._studies import StudySummary, get_study
from kiln.training._study_details import StudyDetails, describe_study
from tests.ui._seed import settings
from tests.ui._studies import (
    BROKEN,
    FAILING_TRIAL,
    PARETO,
    PROJECT,
    SEARCH,
    SEARCH_TRIALS,
    StudySeed,
    broken,
    seed,
)
from tests.ui.conftest import AuthServer, expect_problems
from tests.ui.test_accessibility import _CONTRAST, _UNLABELLED

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)

# Each drawn chart's traces: type, and how many points (or axes, or bars) each holds.
_DRAWN = """
() => [...document.querySelectorAll("[data-chart]")].map((el) => ({
  id: el.id,
  traces: (el.data || []).map((t) => ({
    type: t.type || "scatter",
    name: t.name || "",
    points: t.dimensions ? t.dimensions.length : (t.x || []).length,
  })),
}))
"""


@pytest.fixture(scope="module")
def store(ui_home: Path) -> Iterator[Context]:
    """The demo store as the studies' project sees it, for reading what the pages should show."""
    context = Context(settings(ui_home).model_copy(update={"project": PROJECT}))
    yield context
    context.close()


@pytest.fixture(scope="module")
def seeded(ui_home: Path) -> StudySeed:
    return seed(ui_home)


def _study(store: Context, name: str) -> StudyDetails:
    return store.db.read(describe_study, PROJECT, name)


def _open(page: Any, ui_server: str, path: str) -> None:
    """``path`` in the studies' project (the switcher's cookie, as a person would)."""
    page.goto(f"{ui_server}/projects/switch?project={PROJECT}&next=/studies")
    page.wait_for_url("**/studies")
    if path != "/studies":
        page.goto(ui_server + path)


def _charts(page: Any, count: int) -> dict[str, Any]:
    """The page's charts by id, once plotly drew all ``count`` of them."""
    expect(page.locator("[data-chart]")).to_have_count(count)
    drawn = page.locator("[data-chart].js-plotly-plot").filter(has=page.locator(".main-svg"))
    expect(drawn).to_have_count(count)
    return {chart["id"]: chart for chart in page.evaluate(_DRAWN)}


def _fits(page: Any, width: int) -> None:
    """No sideways scrolling at ``width`` (once plotly's charts followed the window)."""
    page.set_viewport_size({"width": width, "height": 800})
    page.wait_for_function(f"document.documentElement.scrollWidth <= {width}", timeout=5000)


def _accessible(page: Any) -> None:
    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate(_UNLABELLED) == []
    assert page.locator("h1").count() == 1


def _row(page: Any, table: Any, name: str) -> Any:
    return table.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def _states(summary: StudySummary) -> str:
    ordered = sorted(summary.states.items(), key=lambda item: (-item[1], item[0]))
    return " ".join(f"{n} {state.lower()}" for state, n in ordered)


def test_the_list_shows_each_study_with_its_trials_by_state_and_best_value(
    page: Any,
    ui_server: str,
    seeded: StudySeed,
    store: Context,
    shoot: Callable[[Any, str], Path],
) -> None:
    search = store.db.read(get_study, PROJECT, SEARCH, trials=False)
    pareto = store.db.read(get_study, PROJECT, PARETO, trials=False)
    assert search.states["FAIL"] == 1
    assert search.states.get("PRUNED", 0) >= 1
    _open(page, ui_server, "/studies")
    expect(page.get_by_role("heading", level=1)).to_have_text("Studies")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Studies")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name=re.compile("Hyperparameter studies of the project"))
    expect(table.locator("tbody tr td:first-child")).to_have_text([BROKEN, PARETO, SEARCH])
    best = search.best[0]
    expect(_row(page, table, SEARCH).locator("td")).to_have_text(
        [
            SEARCH,
            "minimize",
            str(SEARCH_TRIALS),
            _states(search),
            re.compile(rf"\(trial {best.number}\)$"),
            re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
        ]
    )
    expect(_row(page, table, PARETO).locator("td")).to_have_text(
        [
            PARETO,
            "minimize error, minimize size",
            "10",
            "10 complete",
            f"Pareto front of {len(pareto.best)}",
            re.compile(r"^\d{4}-"),
        ]
    )
    expect(_row(page, table, BROKEN).locator("td").nth(3)).to_have_text("2 fail")
    expect(_row(page, table, BROKEN).locator("td").nth(4)).to_have_text("—")
    _accessible(page)
    shoot(page, "studies")
    _fits(page, 420)


def test_the_study_page_shows_the_best_trial_its_plots_and_every_trial(
    page: Any,
    ui_server: str,
    seeded: StudySeed,
    store: Context,
    shoot: Callable[[Any, str], Path],
) -> None:
    details = _study(store, SEARCH)
    summary = details.summary
    best = summary.best[0]
    complete = [t for t in summary.trials if t.state == "COMPLETE"]
    reported = [t for t in summary.trials if t.intermediate]
    _open(page, ui_server, "/studies")
    page.get_by_role("link", name=SEARCH, exact=True).click()
    page.wait_for_url(f"**/studies/{SEARCH}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{SEARCH} study of 15 trials")
    expect(page.locator("#trial-states")).to_have_text(_states(summary))

    card = page.locator("#best-trial")
    expect(card).to_contain_text(f"trial {best.number}")
    expect(card).to_contain_text("best value (minimize)")
    expect(page.get_by_text("Parameters:")).to_contain_text(f"kind = {best.params['kind']}")

    charts = _charts(page, 1 + 1 + 1 + 3 + 1)  # importances, history, parallel, slices, curves
    history = charts["history-1"]["traces"]
    assert [(t["name"], t["points"]) for t in history] == [
        ("value", len(complete)),
        ("best so far", len(complete)),
    ]
    (parallel,) = charts["parallel"]["traces"]
    assert (parallel["type"], parallel["points"]) == ("parcoords", 4)  # x, y, kind and the value
    assert [charts[f"slice-{i}"]["traces"][0]["points"] for i in (1, 2, 3)] == [len(complete)] * 3
    (bars,) = charts["importance-1"]["traces"]
    assert (bars["type"], bars["points"]) == ("bar", 3)
    curves = charts["intermediate"]["traces"]
    assert len(curves) == len(reported)
    assert {t["name"] for t in curves} == {t.state.lower() for t in reported}
    expect(page.get_by_role("img", name=re.compile("^Optimization history: value"))).to_be_visible()
    importance = page.get_by_role("img", name=re.compile("^Share of the variation in value"))
    expect(importance).to_have_attribute("aria-label", re.compile(r"x \d"))

    table = page.get_by_role("table", name="Every trial, by number")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(SEARCH_TRIALS)
    expect(rows.locator("th")).to_have_text([str(n) for n in range(SEARCH_TRIALS)])
    failed = rows.nth(FAILING_TRIAL)
    expect(failed).to_contain_text("fail")
    expect(failed).to_contain_text("ValueError: this configuration cannot train")
    expect(table.get_by_role("link", name=re.compile(r"^Run of trial \d+$"))).to_have_count(
        SEARCH_TRIALS
    )
    _accessible(page)
    shoot(page, "study")
    _fits(page, 420)
    shoot(page, "study-420")

    page.set_viewport_size({"width": 1280, "height": 800})
    page.get_by_role("link", name=re.compile("^its run")).click()
    page.wait_for_url(f"**/runs/{best.run_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()


def test_the_report_downloads_from_the_study_run(
    page: Any, ui_server: str, seeded: StudySeed, store: Context
) -> None:
    details = _study(store, SEARCH)
    assert details.report is not None
    _open(page, ui_server, f"/studies/{SEARCH}")
    link = page.get_by_role("link", name="Download the report")
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"/runs/{details.summary.parent_run_id}/artifacts/raw?")
    with page.expect_download() as download:
        link.click()
    saved = download.value
    assert saved.suggested_filename == "report.html"
    page_text = Path(saved.path()).read_text(encoding="utf-8")
    assert page_text.lower().startswith("<!doctype html>")
    assert "Optimization history" in page_text
    assert len(page_text.encode()) == details.report.size


def test_a_two_objective_study_shows_its_pareto_front(
    page: Any,
    ui_server: str,
    seeded: StudySeed,
    store: Context,
    shoot: Callable[[Any, str], Path],
) -> None:
    details = _study(store, PARETO)
    front = details.summary.best
    _open(page, ui_server, f"/studies/{PARETO}")
    expect(page.get_by_role("heading", level=2, name="Pareto front")).to_be_visible()
    table = page.get_by_role("table", name="Trials of the Pareto front")
    expect(table.locator("tbody th")).to_have_text([str(t.number) for t in front])
    first = table.locator("tbody tr").first
    assert front[0].run_id is not None
    expect(first.get_by_role("link")).to_have_attribute("href", f"/runs/{front[0].run_id}")
    # importances for error and size, a history for each, the front, parallel, 2 slices
    charts = _charts(page, 2 + 2 + 1 + 1 + 2)
    assert [t["name"] for t in charts["history-1"]["traces"]] == ["error"]
    assert [t["name"] for t in charts["history-2"]["traces"]] == ["size"]
    other, marked = charts["pareto"]["traces"]
    assert (marked["name"], marked["points"]) == ("Pareto front", len(front))
    assert other["points"] + marked["points"] == len(details.summary.trials)
    assert charts["parallel"]["traces"][0]["points"] == 4  # x, width, error and size
    expect(
        page.get_by_role("table", name="Every trial, by number").locator("tbody tr")
    ).to_have_count(10)
    _accessible(page)
    shoot(page, "study-pareto")


def test_a_study_with_nothing_complete_says_so(
    page: Any, ui_server: str, seeded: StudySeed
) -> None:
    _open(page, ui_server, f"/studies/{BROKEN}")
    expect(page.get_by_text("No trial has completed yet.")).to_be_visible()
    expect(page.get_by_text("The plots appear once a trial has completed.")).to_be_visible()
    expect(page.locator("[data-chart]")).to_have_count(0)
    rows = page.get_by_role("table", name="Every trial, by number").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("RuntimeError: out of memory")
    _accessible(page)


def test_an_unknown_study_is_a_404_page(page: Any, ui_server: str, seeded: StudySeed) -> None:
    expect_problems(page, "404 (Not Found)")
    _open(page, ui_server, "/studies")
    answer = page.goto(f"{ui_server}/studies/no-such-study")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found (404)")
    expect(page.locator(".error-message")).to_contain_text("no study 'no-such-study'")
    expect(page.locator(".error-message")).to_contain_text("kiln tune list")


def test_an_editor_deletes_a_study_and_its_runs_stay(
    page: Any, ui_server: str, seeded: StudySeed, store: Context
) -> None:
    with using_context(store):
        tune(broken, space={"x": Float(0.0, 1.0)}, n_trials=1, study="to-delete", progress=False)
    _fluent._reset_for_tests()
    parent = _study(store, "to-delete").summary.parent_run_id
    _open(page, ui_server, "/studies/to-delete")
    page.get_by_role("button", name="Delete study").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete study to-delete and its 1 trial?")
    dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/studies")
    expect(page.locator("#toast")).to_contain_text("study to-delete deleted")
    expect(page.get_by_role("link", name="to-delete", exact=True)).to_have_count(0)
    assert httpx.get(f"{ui_server}/api/v1/runs/{parent}", params={"project": PROJECT}).is_success


def test_a_viewer_sees_no_delete_button_and_the_api_refuses(
    page: Any, auth_server: AuthServer, seeded: StudySeed
) -> None:
    url, target = auth_server.url, f"/studies/{SEARCH}"
    page.goto(f"{url}/login?next={target}")
    page.get_by_label("API token").fill(seeded.viewer_token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{target}")
    expect(page.get_by_text("study-viewer · viewer")).to_be_visible()
    expect(page.get_by_role("table", name="Every trial, by number")).to_be_visible()
    expect(page.get_by_role("button", name="Delete study")).to_have_count(0)
    with httpx.Client(base_url=url, timeout=30) as client:
        viewer = {"Authorization": f"Bearer {seeded.viewer_token}"}
        denied = client.delete(f"/api/v1/studies/{SEARCH}", headers=viewer)
        assert denied.status_code == 403, denied.text
        assert client.get(f"/api/v1/studies/{SEARCH}", headers=viewer).status_code == 200
