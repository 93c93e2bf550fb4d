"""The monitor pages in a real browser: the list with a drifted monitor; a monitor's page with
the drifted column first and its overlay chart, the quality finding, the alert with its
evidence; the full report opening as a self-contained page; a viewer refused a new monitor.

Seeded in project ``monitor-shop`` of the demo store (so the demo's pages stay as the other
tests expect): a profile of reference rows, monitor ``fraud-watch`` of deployment
``fraud-api`` whose log the real ``PredictionLog`` wrote (a clean hour, then an hour whose
``amount`` is shifted), evaluated by the real service, and an alert raised on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui._monitors import ALERT, PROJECT, MonitorSeed, seed
from tests.ui.conftest import AuthServer
from tests.ui.test_accessibility import _CONTRAST, _UNLABELLED

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path) -> MonitorSeed:
    return seed(ui_home)


def _open(page: Any, ui_server: str, path: str) -> None:
    """``path`` in the monitors' project (the switcher's cookie, as a person would)."""
    page.goto(f"{ui_server}/projects/switch?project={PROJECT}&next=/monitors")
    page.wait_for_url("**/monitors")
    if path != "/monitors":
        page.goto(ui_server + path)


def _fits(page: Any, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_list_shows_the_drifted_monitor(
    page: Any, ui_server: str, seeded: MonitorSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/monitors")
    expect(page.get_by_role("heading", level=1)).to_have_text("Monitors")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Monitors")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name=re.compile("Monitors of the project"))
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name="fraud-watch"))
    expect(row.locator("td")).to_have_text(
        [
            re.compile("^fraud-watch.*card fraud <b>scores</b>"),  # escaped, not markup
            "deployment fraud-api",
            re.compile(r"^2026-11-30 11:00:00 \(1h\)$"),
            "600",
            "33%",
            "1 open",
        ]
    )
    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate(_UNLABELLED) == []
    shoot(page, "monitors")
    _fits(page, 420)


def test_the_monitor_page_puts_the_drifted_column_first_with_its_evidence(
    page: Any, ui_server: str, seeded: MonitorSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/monitors")
    page.get_by_role("link", name="fraud-watch").click()
    page.wait_for_url("**/monitors/fraud-watch")
    expect(page.get_by_role("heading", level=1)).to_contain_text("fraud-watch")
    expect(page.get_by_role("img", name="Share of drifted columns per window")).to_be_visible()

    table = page.get_by_role("table", name=re.compile("Drift per column and window"))
    expect(table.locator("tbody th")).to_have_text(["amount", "age", "city"])
    amount = table.get_by_role("row").filter(has=page.get_by_role("rowheader", name="amount"))
    expect(amount.locator("td")).to_have_text([re.compile("^no drift"), re.compile("^▲ drift")])

    cards = page.locator("article.distribution")
    expect(cards.first.get_by_role("heading")).to_have_text(re.compile(r"^amount\s+▲ drift"))
    overlay = cards.first.get_by_role("img", name=re.compile("^amount: share of rows per bin"))
    expect(overlay).to_be_visible()
    assert overlay.locator("rect").count() > 10  # bars and their hover targets
    city = page.get_by_role("img", name=re.compile("^city: share of rows per category"))
    expect(city).to_have_count(1)

    findings = page.get_by_role("table", name=re.compile("Data-quality findings"))
    expect(findings.get_by_role("row").nth(1)).to_contain_text("out_of_range")
    expect(findings.get_by_role("row").nth(1)).to_contain_text("amount")
    expect(page.get_by_role("table", name=re.compile("^city: demographic parity"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"of the rows are outliers"))).to_be_visible()

    alert = page.locator("article.alert")
    expect(alert.get_by_role("heading")).to_have_text(ALERT)
    expect(alert).to_contain_text("critical")
    expect(alert).to_contain_text("open")
    evidence = alert.locator("dl.evidence")
    expect(evidence.locator("dt")).to_have_text(["column", "rule", "value"])
    expect(evidence.locator("dd")).to_have_text(["amount", "drift.share > 0.2", "0.3333"])

    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate(_UNLABELLED) == []
    assert page.locator("h1").count() == 1
    shoot(page, "monitor")
    _fits(page, 420)
    shoot(page, "monitor-420")


def test_the_report_link_opens_a_self_contained_page(
    page: Any, ui_server: str, seeded: MonitorSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/monitors/fraud-watch")
    href = page.get_by_role("link", name="Open the full report").get_attribute("href")
    assert href is not None
    assert "/report.html" in href
    # A page of its own, so that nothing the monitor page still loads (its icon) is counted.
    report = page.context.new_page()
    requested: list[str] = []
    report.on("request", lambda request: requested.append(request.url))
    report.goto(ui_server + href if href.startswith("/") else href)
    expect(report.get_by_role("heading", level=1)).to_have_text("fraud-watch: monitoring report")
    expect(report.get_by_text(ALERT).first).to_be_visible()
    assert [url for url in requested if "/report.html" not in url] == []  # nothing else loaded
    shoot(report, "monitor-report")
    report.close()


def test_a_viewer_cannot_create_a_monitor(auth_server: AuthServer, ui_home: Path) -> None:
    tokens = seed(ui_home)
    body = {
        "name": "other",
        "target_kind": "deployment",
        "target": "fraud-api",
        "spec": {"profile": "fraud-ref"},
    }
    with httpx.Client(base_url=auth_server.url, timeout=30) as client:
        viewer = {"Authorization": f"Bearer {tokens.viewer_token}"}
        assert client.get("/api/v1/monitors", headers=viewer).status_code == 200
        denied = client.post("/api/v1/monitors", json=body, headers=viewer)
        assert denied.status_code == 403, denied.text
        assert "viewer" in denied.json()["message"]
        editor = {"Authorization": f"Bearer {tokens.editor_token}"}
        made = client.post("/api/v1/monitors", json=body, headers=editor)
        assert made.status_code == 201, made.text
        assert client.delete("/api/v1/monitors/other", headers=editor).status_code == 204
