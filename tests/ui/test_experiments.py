"""The experiments area in a real browser: the list, the runs table, and comparing runs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import expect_problems

pytestmark = pytest.mark.timeout(300)

DEMO_RUNS = {"mlflow-baseline", "xgboost", "hist-gradient-boosting", "logistic-regression"}


def _expect() -> Any:
    from playwright.sync_api import expect

    return expect


def _open_fraud(page: Any, ui_server: str) -> None:
    page.goto(ui_server + "/experiments")
    page.get_by_role("link", name="fraud", exact=True).click()
    page.wait_for_url("**/experiments/*")


def _rows(page: Any) -> Any:
    return page.locator("table.runs tbody tr")


def _column(page: Any, column: str) -> list[str]:
    """The cells of a column, by its ``data-col`` (``metric:auc``, ``attribute:run_name``)."""
    headers = page.locator("table.runs thead th")
    keys = [headers.nth(i).get_attribute("data-col") for i in range(headers.count())]
    index = keys.index(column)
    return [row.locator("td").nth(index).inner_text().strip() for row in _rows(page).all()]


def _names(page: Any) -> list[str]:
    return _column(page, "attribute:run_name")


def _filter_box(page: Any) -> Any:
    return page.get_by_role("searchbox", name="Filter", exact=True)


def _settled(page: Any) -> None:
    page.wait_for_selector("#runs-view:not([data-loading])")


def test_the_experiments_list_links_to_each_experiment(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/experiments")
    assert page.title() == "Experiments · Kiln"
    row = page.locator("table.experiments tbody tr", has_text="fraud")
    assert row.locator("td.num").inner_text() == str(len(DEMO_RUNS))
    nav = page.get_by_role("navigation", name="Areas")
    assert nav.get_by_role("link", name="Experiments").get_attribute("aria-current") == "page"
    shoot(page, "experiments")
    page.get_by_role("link", name="fraud", exact=True).click()
    page.wait_for_url("**/experiments/*")
    assert page.get_by_role("heading", name="fraud").is_visible()


def test_the_runs_table_shows_the_demo_runs_and_filters(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    _open_fraud(page, ui_server)
    assert set(_names(page)) == DEMO_RUNS
    assert page.get_by_text(f"Runs 1 to 4 of {len(DEMO_RUNS)}").is_visible()
    shoot(page, "runs-table")
    _filter_box(page).fill("metrics.auc > 0.85")
    _filter_box(page).press("Enter")
    _expect()(page.locator(".pager")).not_to_contain_text(f"of {len(DEMO_RUNS)} ")
    _settled(page)
    kept = _names(page)
    assert 1 <= len(kept) < len(DEMO_RUNS)
    assert all(float(value) > 0.85 for value in _column(page, "metric:auc"))
    assert "filter=metrics.auc" in page.url  # the view is in the URL, to share or reload
    page.reload()
    assert _names(page) == kept


def test_sorting_by_a_metric_column_orders_the_rows(page: Any, ui_server: str) -> None:
    _open_fraud(page, ui_server)
    header = page.locator("table.runs thead th", has_text="auc").get_by_role("link")
    header.focus()
    page.keyboard.press("Enter")  # a real link: the keyboard sorts too
    _expect()(page.locator('table.runs th[aria-sort="descending"]')).to_contain_text("auc")
    _settled(page)
    values = [float(v) for v in _column(page, "metric:auc")]
    assert values == sorted(values, reverse=True)
    page.locator("table.runs thead th", has_text="auc").get_by_role("link").click()
    _expect()(page.locator('table.runs th[aria-sort="ascending"]')).to_contain_text("auc")
    _settled(page)
    values = [float(v) for v in _column(page, "metric:auc")]
    assert values == sorted(values)


def test_the_column_chooser_adds_a_param_column(page: Any, ui_server: str) -> None:
    _open_fraud(page, ui_server)
    assert "model" not in page.locator("table.runs thead").inner_text().split()
    page.get_by_text("Columns", exact=False).first.click()
    page.get_by_role("checkbox", name="model", exact=True).check()
    page.get_by_role("button", name="Show columns").click()
    _expect()(page.locator("table.runs thead")).to_contain_text("model")
    _settled(page)
    models = dict(zip(_names(page), _column(page, "param:model"), strict=True))
    assert models["xgboost"] == "xgboost"
    assert models["mlflow-baseline"] == "logistic_regression"
    assert "col=params.model" in page.url


def test_an_invalid_filter_shows_the_parsers_message(page: Any, ui_server: str) -> None:
    expect_problems(page, "status of 400")  # the browser logs the refused partial fetch
    _open_fraud(page, ui_server)
    _filter_box(page).fill("metrics.auc >")
    _filter_box(page).press("Enter")
    alert = page.get_by_role("alert")
    _expect()(alert).to_be_visible()
    assert "filter" in alert.inner_text().lower()
    assert _filter_box(page).get_attribute("aria-invalid") == "true"
    response = page.goto(page.url)  # the same URL loaded whole: a 400 page, not a 500
    assert response is not None
    assert response.status == 400
    assert page.get_by_role("alert").is_visible()


def test_compare_two_runs(page: Any, ui_server: str, shoot: Callable[[Any, str], Path]) -> None:
    _open_fraud(page, ui_server)
    for name in ("mlflow-baseline", "xgboost"):
        page.get_by_role("checkbox", name=f"Select run {name}").check()
    page.get_by_role("button", name="Compare selected runs").click()
    page.wait_for_url("**/compare?*")
    assert page.get_by_role("heading", name="Compare").is_visible()
    page.wait_for_selector("#curve-1 .main-svg")
    spec = json.loads(page.locator("#curve-1-spec").text_content())
    assert spec["layout"]["title"]["text"] == "auc"
    baseline = next(t for t in spec["data"] if t["name"] == "mlflow-baseline")
    assert baseline["x"] == [0, 1, 2]  # the auc it logged at 3 steps
    page.wait_for_selector("#parallel .main-svg")
    assert page.get_by_role("heading", name="Params and final metrics").is_visible()
    model_row = page.locator("table.diff tr.differs", has_text="model")
    assert "differs" in model_row.inner_text()
    assert "logistic_regression" in model_row.inner_text()
    identical = page.locator("details.same-params")
    if identical.count():  # identical params start collapsed
        assert not identical.locator("table").is_visible()
    shoot(page, "compare")


@pytest.mark.parametrize("path", ["/experiments", "/experiments/fraud", "/compare"])
def test_pages_fit_a_narrow_window(page: Any, ui_server: str, path: str) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    if path == "/experiments":
        page.goto(ui_server + path)
    else:
        _open_fraud(page, ui_server)
        if path == "/compare":
            page.get_by_role("checkbox", name="Select run mlflow-baseline").check()
            page.get_by_role("checkbox", name="Select run xgboost").check()
            page.get_by_role("button", name="Compare selected runs").click()
            page.wait_for_selector("#curve-1 .main-svg")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"{path} scrolls sideways ({width}px wide)"
