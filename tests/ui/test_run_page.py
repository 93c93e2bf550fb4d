"""The run page in a real browser: a demo run's sections, charts, previews, download, lineage."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import expect_problems

pytestmark = pytest.mark.timeout(300)


def _run_id(url: str, name: str) -> str:
    """The id of the demo's run ``name``, found as any client would: through the API."""
    body = {"filter": f"attributes.run_name = '{name}'"}
    found = httpx.post(f"{url}/api/v1/runs/search", json=body, timeout=30).json()["runs"]
    assert found, f"the demo logged no run named {name!r}"
    return str(found[0]["id"])


def test_a_demo_run_shows_params_metrics_and_lineage(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    run_id = _run_id(ui_server, "logistic-regression")
    page.goto(f"{ui_server}/runs/{run_id}")
    assert page.title() == "Run logistic-regression · Kiln"
    assert page.get_by_role("heading", level=1).inner_text().startswith("logistic-regression")
    sections = page.get_by_role("navigation", name="Run sections")
    for name in ("Overview", "Params", "Metrics", "Artifacts", "Environment", "Inputs", "Lineage"):
        assert sections.get_by_role("link", name=re.compile(f"^{name}")).is_visible()
    assert page.locator("#overview").get_by_role("link", name="fraud").is_visible()
    assert page.locator("#params").get_by_role("cell", name="max_iter", exact=True).is_visible()
    assert page.locator("#metrics").get_by_role("cell", name="auc", exact=True).is_visible()
    environment = page.locator("#environment")
    assert environment.get_by_text("Git commit").is_visible()
    inputs = page.locator("#inputs")
    assert inputs.get_by_role(
        "heading", name=re.compile("^demo-transactions-features ")
    ).is_visible()
    lineage = page.locator("#lineage")
    lineage.scroll_into_view_if_needed()
    drawing = lineage.locator("svg.lineage")
    dataset = drawing.locator("a.dataset").first
    assert dataset.get_attribute("href") == "#input-0"
    assert dataset.locator("text.label").text_content().startswith("demo-transactions-feat")
    assert drawing.locator("a.version text.label").text_content() == "fraud-detector v1"
    assert drawing.locator("a.version").is_visible()
    version = lineage.locator(".lineage-list").get_by_role("link", name="fraud-detector v1")
    assert version.get_attribute("href") == "/models/fraud-detector/versions/1"
    assert lineage.locator(".lineage-list").get_by_text("(@champion)").is_visible()
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "run")


def test_a_stepped_metric_is_charted(page: Any, ui_server: str) -> None:
    page.goto(f"{ui_server}/runs/{_run_id(ui_server, 'mlflow-baseline')}#metrics")
    page.locator("#metric-chart-0 .main-svg").first.wait_for()  # plotly drew it
    assert page.locator("#metrics").get_by_role("cell", name="3", exact=True).is_visible()


def test_previews_and_a_download(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    run_id = _run_id(ui_server, "logistic-regression")
    page.goto(f"{ui_server}/runs/{run_id}#artifacts")
    tree = page.get_by_role("navigation", name="Files of the run")
    preview = page.get_by_role("region", name="Preview")
    tree.get_by_role("link", name="kiln-model.yaml", exact=True).click()
    preview.locator("pre").get_by_text("flavor: sklearn").wait_for()
    page.wait_for_url(re.compile(r"/artifacts/preview\?path=model%2Fkiln-model.yaml$"))
    tree.get_by_role("link", name="input_example.parquet", exact=True).click()
    preview.get_by_role("columnheader", name="amount", exact=True).wait_for()
    assert preview.get_by_text(re.compile(r"\d+ of \d+ rows")).is_visible()
    shoot(page, "run-artifacts")
    with page.expect_download() as started:
        tree.get_by_role("link", name="Download model/kiln-model.yaml").click()
    download = started.value
    assert download.suggested_filename == "kiln-model.yaml"
    assert "flavor: sklearn" in Path(download.path()).read_text()
    tree.get_by_role("link", name="kiln-model.yaml", exact=True).click()
    page.wait_for_url(re.compile(r"/artifacts/preview\?path=model%2Fkiln-model.yaml$"))
    page.reload()  # the pushed preview URL loads the whole page with the preview open
    assert preview.locator("pre").get_by_text("flavor: sklearn").is_visible()


def test_the_page_works_from_the_keyboard(page: Any, ui_server: str) -> None:
    page.goto(f"{ui_server}/runs/{_run_id(ui_server, 'logistic-regression')}")
    sections = page.get_by_role("navigation", name="Run sections")
    sections.get_by_role("link", name=re.compile("^Artifacts")).focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("#artifacts$"))
    page.get_by_role("link", name="MLmodel", exact=True).focus()
    page.keyboard.press("Enter")
    preview = page.get_by_role("region", name="Preview")
    preview.locator("pre").get_by_text("flavors:").wait_for()
    page.keyboard.press("Tab")  # the download link right after it in the tree
    focused = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused == "Download model/MLmodel"


def test_the_page_fits_a_narrow_window(page: Any, ui_server: str) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    run_id = _run_id(ui_server, "logistic-regression")
    page.goto(f"{ui_server}/runs/{run_id}?artifact=model/input_example.parquet")
    assert page.locator(".artifact-table").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the page scrolls sideways ({width}px wide)"


def test_an_unknown_run_is_the_404_page(page: Any, ui_server: str) -> None:
    expect_problems(page, "404")
    response = page.goto(f"{ui_server}/runs/{'0' * 32}")
    assert response.status == 404
    assert page.get_by_role("heading", name=re.compile("Not found")).is_visible()
