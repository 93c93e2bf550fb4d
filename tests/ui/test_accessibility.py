"""Every page: labelled controls, a skip link first in the tab order, AA text contrast,
no sideways scrolling at 1280x800 or in a narrow window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui import _deployments, _features, _jobs, _labeling, _monitors, _studies
from tests.ui.conftest import AuthServer

pytestmark = pytest.mark.timeout(300)

# WCAG 2.x contrast of every visible text element against its effective background.
_CONTRAST = """
() => {
  const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest("svg, .js-plotly-plot, script, style, noscript, option")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    if (!box.width || !box.height || style.visibility === "hidden") continue;
    if (el.closest("[hidden]")) continue;
    const fg = parse(style.color).slice(0, 3);
    const [l1, l2] = [lum(fg), lum(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const needed = large ? 3 : 4.5;
    if (ratio + 0.01 < needed && !(el.matches(":disabled, [aria-disabled=true]")))
      bad.push(`${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 40)}" `
               + `${ratio.toFixed(2)} < ${needed}`);
  }
  return bad;
}
"""

_UNLABELLED = """
() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => el.type !== "hidden" && el.offsetParent !== null)
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label"))
  .filter((el) => !el.getAttribute("aria-labelledby"))
  .filter((el) => !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map((el) => el.outerHTML.slice(0, 80))
"""


def _pages(ui_server: str) -> dict[str, str]:
    with httpx.Client(base_url=ui_server) as client:
        runs = client.post(
            "/api/v1/runs/search", json={"max_results": 3, "order_by": ["attributes.start_time"]}
        ).json()["runs"]
        experiment = runs[0]["experiment_id"]
        paused = client.get("/api/v1/pipeline-runs", params={"status": "PAUSED"}).json()["runs"]
    first, second = runs[0]["id"], runs[1]["id"]
    return {
        "home": "/",
        "search": "/search?q=fraud",
        "experiments": "/experiments",
        "runs table": f"/experiments/{experiment}",
        "compare": f"/compare?runs={first},{second}",
        "run": f"/runs/{first}",
        "models": "/models",
        "model": "/models/fraud-detector",
        "version": "/models/fraud-detector/versions/1",
        "pipeline runs": "/pipelines",
        "pipeline run": f"/pipelines/runs/{paused[0]['id']}",
        "schedules": "/pipelines/schedules",
        "datasets": "/datasets",
        "dataset": "/datasets/demo-transactions",
        "dataset version": "/datasets/demo-transactions/versions/latest",
        "lineage": "/lineage?node=dataset:demo-transactions@1",
        "features": f"/features?project={_features.PROJECT}",
        "features search": f"/features?project={_features.PROJECT}&q=owner:risk-team",
        "feature view": f"/features/views/customer_stats?project={_features.PROJECT}",
        "feature service": f"/features/services/fraud?project={_features.PROJECT}",
        "on-demand view": f"/features/views/spend_share?project={_features.PROJECT}",
        "feature entity": f"/features/entities/customer?project={_features.PROJECT}",
        "deployment": f"/deployments/fraud-api?project={_deployments.PROJECT}",
        "monitors": f"/monitors?project={_monitors.PROJECT}",
        "monitor": f"/monitors/fraud-watch?project={_monitors.PROJECT}",
        "studies": f"/studies?project={_studies.PROJECT}",
        "study": f"/studies/{_studies.SEARCH}?project={_studies.PROJECT}",
        "pareto study": f"/studies/{_studies.PARETO}?project={_studies.PROJECT}",
        "labeling": f"/labeling?project={_labeling.PROJECT}",
        "labeling project": f"/labeling/{_labeling.SENTIMENT}?project={_labeling.PROJECT}",
        "label text": f"/labeling/{_labeling.SENTIMENT}/label?project={_labeling.PROJECT}",
        "label spans": f"/labeling/{_labeling.ENTITIES}/label?project={_labeling.PROJECT}",
        "label fields": f"/labeling/{_labeling.LOANS}/label?project={_labeling.PROJECT}",
        "label image": f"/labeling/{_labeling.PHOTOS}/label?project={_labeling.PROJECT}",
        "nothing to label": f"/labeling/{_labeling.DONE}/label?project={_labeling.PROJECT}",
        "review queue": f"/labeling/{_labeling.DISPUTED}/review?project={_labeling.PROJECT}",
        "agreement": f"/labeling/{_labeling.DISPUTED}/agreement?project={_labeling.PROJECT}",
        "not found": "/models/no-such-model",
    }


def test_every_page_is_labelled_contrasted_and_fits(
    page: Any,
    ui_server: str,
    shoot: Callable[[Any, str], Path],
    ui_home: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    _features.seed(ui_home, tmp_path_factory)
    _deployments.seed(ui_home)
    _monitors.seed(ui_home)
    _studies.seed(ui_home)
    _labeling.seed(ui_home)
    jobs = _jobs.pages(_jobs.seed(ui_home, tmp_path_factory))
    page._kiln_expected_problems = ("404 (Not Found)",)
    problems: list[str] = []
    for name, path in (_pages(ui_server) | jobs).items():
        for width in (1280, 420):
            page.set_viewport_size({"width": width, "height": 800})
            page.goto(ui_server + path)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            if scroll > width:
                problems.append(f"{name} at {width}px scrolls sideways ({scroll}px)")
            shoot(page, f"page-{name.replace(' ', '-')}-{width}")
        problems += [f"{name}: low contrast {item}" for item in page.evaluate(_CONTRAST)]
        problems += [f"{name}: unlabelled {item}" for item in page.evaluate(_UNLABELLED)]
        if page.locator("h1").count() != 1:
            problems.append(f"{name}: {page.locator('h1').count()} h1 headings")
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.className") != "skip":
            problems.append(f"{name}: the skip link is not the first Tab stop")
    assert not problems, "\n".join(problems)


def test_the_skip_link_moves_focus_to_the_content(page: Any, ui_server: str) -> None:
    page.goto(ui_server + "/models")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_login_page_is_accessible(
    page: Any, auth_server: AuthServer, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(auth_server.url + "/login")
    shoot(page, "page-login")
    assert page.evaluate(_UNLABELLED) == []
    assert page.evaluate(_CONTRAST) == []
