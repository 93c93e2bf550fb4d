"""The deployment pages in a real browser: the list with the last hour's traffic; a deployment's
split bar, request-rate chart, traffic per version, shadow agreement, history; a bandit's
state; rolling back as an editor through the confirmation; a viewer offered no rollback.
Over records made by the deployment services and a log written by the real PredictionLog."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui import _deployments
from tests.ui._deployments import DeploymentSeed
from tests.ui.conftest import AuthServer, expect_problems
from tests.ui.test_accessibility import _CONTRAST, _UNLABELLED

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path) -> DeploymentSeed:
    return _deployments.seed(ui_home)


def _open(page: Any, ui_server: str, path: str) -> None:
    """``path`` in the deployments' project (the switcher's cookie, as a person would)."""
    page.goto(f"{ui_server}/projects/switch?project={_deployments.PROJECT}&next=/deployments")
    page.wait_for_url("**/deployments")
    if path != "/deployments":
        page.goto(ui_server + path)


def _log_in(page: Any, url: str, token: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{target}")


def _row(table: Any, page: Any, name: str) -> Any:
    return table.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))


def test_the_list_shows_revision_mode_arms_and_the_last_hour(
    page: Any, ui_server: str, seeded: DeploymentSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/deployments")
    expect(page.get_by_role("heading", level=1)).to_have_text("Deployments")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Deployments")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name=re.compile("Deployments of the project"))
    fraud = _row(table, page, "fraud-api")
    expect(fraud.locator("td")).to_have_text(
        [
            re.compile("^fraud-api.*card fraud"),
            "2",
            "split",
            "scorer@champion 80%, scorer/2 20%",
            "scorer@challenger",
            str(_deployments.REQUESTS),  # the requests of 3 h ago are not in the last hour
            f"7.5% ({_deployments.ERRORS})",
            re.compile("ago|just now"),
        ]
    )
    ranker = _row(table, page, "ranker")
    expect(ranker.locator("td").nth(2)).to_have_text(re.compile(r"^bandit \((thompson|epsilon)"))
    expect(ranker.locator("td").nth(5)).to_have_text("0")
    assert page.evaluate(_CONTRAST) == []
    assert page.evaluate(_UNLABELLED) == []
    shoot(page, "deployments")

    fraud.get_by_role("link", name="fraud-api").click()
    page.wait_for_url("**/deployments/fraud-api")


def test_a_deployment_page_shows_split_traffic_shadows_and_history(
    page: Any, ui_server: str, seeded: DeploymentSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/deployments/fraud-api")
    expect(page.get_by_role("heading", level=1)).to_have_text("fraud-api deployment, revision 2")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("scorer@champion → scorer/1")
    expect(facts).to_contain_text("scorer@challenger → scorer/2")

    expect(page.get_by_role("img", name=re.compile("^Traffic split"))).to_have_attribute(
        "aria-label", "Traffic split by weights: scorer@champion 80%, scorer/2 20%"
    )
    split = page.get_by_role("table", name="Traffic split by weights")
    expect(split.get_by_role("row").nth(1)).to_contain_text("scorer@champion")
    expect(split.get_by_role("row").nth(1).locator("td")).to_have_text(["scorer/1", "80%"])
    expect(split.get_by_role("row").nth(2).locator("td")).to_have_text(["scorer/2", "20%"])

    expect(page.locator("#requests-total")).to_have_text(str(_deployments.REQUESTS))
    expect(page.locator("#errors-total")).to_have_text(str(_deployments.ERRORS))
    chart = page.get_by_role("img", name=re.compile("^Requests per minute"))
    expect(chart.locator(".main-svg").first).to_be_visible()  # plotly.js drew it
    expect(chart.locator(".legendtext")).to_have_text(
        ["scorer/1 (primary)", "scorer/2 (primary)", "scorer/2 (shadow)"]
    )
    traffic = page.get_by_role("table", name="Requests, errors and latency by version and route")
    v1 = traffic.get_by_role("row").nth(1)
    expect(v1.get_by_role("rowheader")).to_have_text("scorer/1")
    expect(v1.locator("td").nth(0)).to_have_text("primary")
    expect(v1.locator("td").nth(1)).to_have_text("scorer@champion")
    expect(v1.locator("td.num").nth(0)).to_have_text("32")
    expect(v1.locator("td.num").nth(1)).to_have_text(str(_deployments.ERRORS))
    expect(v1.locator("td.num").nth(2)).to_have_text("9.4%")
    expect(v1.locator("td.num").nth(5)).to_have_text(re.compile(r"^4\d\.\d ms$"))  # p99: slow
    shadow = traffic.get_by_role("row").nth(3)
    expect(shadow.locator("td").nth(0)).to_have_text("shadow")
    expect(shadow.locator("td").nth(1)).to_have_text("scorer@challenger")
    expect(shadow.locator("td.num").nth(0)).to_have_text(str(_deployments.SHADOWED))

    shadows = page.get_by_role("table", name="Agreement of each shadow with the primary answers")
    agreed = _deployments.SHADOWED - _deployments.DISAGREE
    expect(shadows.get_by_role("row").nth(1).locator("td")).to_have_text(
        ["scorer/1", str(_deployments.SHADOWED), str(agreed), "75.0%"]
    )
    page.get_by_text(re.compile("^Disagreements of scorer/2 with scorer/1")).click()
    examples = page.get_by_role("table", name=re.compile("answered otherwise"))
    expect(examples.get_by_role("row")).to_have_count(4)  # the header and three examples
    expect(examples.get_by_role("row").nth(1)).to_contain_text('{"predictions":[1]}')

    history = page.get_by_role("table", name="Revisions of fraud-api, newest first")
    expect(history.get_by_role("row")).to_have_count(3)
    latest = history.get_by_role("row").nth(1)
    expect(latest).to_contain_text("current")
    expect(latest).to_contain_text("scorer@champion 80%, scorer/2 20%; shadows scorer@challenger")
    expect(latest).to_contain_text("canary v2, shadow it")
    expect(latest).to_contain_text("alice")
    expect(history.get_by_role("row").nth(2)).to_contain_text("create")
    # Auth is off: the local user is an admin, so the page offers the rollback.
    expect(page.get_by_role("button", name="Roll back…")).to_be_visible()
    shoot(page, "deployment")

    page.get_by_role("navigation", name="Traffic window").get_by_role(
        "link", name="6 hours"
    ).click()
    page.wait_for_url("**/deployments/fraud-api?since=6h")
    expect(page.get_by_role("heading", name="Traffic in the last 6 hours")).to_be_visible()
    total = _deployments.REQUESTS + _deployments.OLD
    expect(page.locator("#requests-total")).to_have_text(str(total))


def test_an_editor_rolls_a_bandit_back_after_confirming(
    page: Any, auth_server: AuthServer, seeded: DeploymentSeed
) -> None:
    url, target = auth_server.url, "/deployments/ranker"
    _log_in(page, url, seeded.editor_token, target)
    expect(page.get_by_text("deploy-editor · editor")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("ranker deployment, revision 2")
    bandit = page.get_by_role("table", name="What the bandit has learnt, per arm")
    headers = bandit.get_by_role("columnheader")
    expect(headers).to_have_count(6)
    expect(headers.nth(1)).to_have_text("Pulls")
    expect(headers.nth(4)).to_have_text(re.compile("^Posterior Beta"))
    expect(headers.nth(5)).to_have_text("Posterior mean")
    expect(bandit.get_by_role("rowheader")).to_have_text(["scorer/1", "scorer/2"])
    pulls = [int(text) for text in bandit.locator("td.num:nth-child(2)").all_inner_texts()]
    assert sum(pulls) == 40
    expect(page.get_by_role("img", name=re.compile("^Traffic split by pulls"))).to_be_visible()

    form = page.locator("form.rollback")
    form.get_by_label("To revision").select_option("1")
    form.get_by_label("Note").fill("ui test")
    form.get_by_role("button", name="Roll back…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Roll ranker back to the policy of revision 1?")
    expect(dialog).to_contain_text("It becomes revision 3")
    dialog.get_by_role("button", name="Confirm").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("ranker deployment, revision 3")
    expect(page.locator("#toast")).to_contain_text("ranker rolled back to revision 1")
    expect(page.locator("dl.facts")).to_contain_text("epsilon_greedy")
    history = page.get_by_role("table", name="Revisions of ranker, newest first")
    latest = history.get_by_role("row").nth(1)
    expect(latest).to_contain_text("rollback")
    expect(latest).to_contain_text("ui test")
    expect(latest).to_contain_text("deploy-editor")
    expect(latest).to_contain_text("current")
    described = httpx.get(
        f"{url}/api/v1/deployments/ranker",
        headers={"Authorization": f"Bearer {seeded.viewer_token}"},
        timeout=30,
    ).json()
    assert described["revision"] == 3
    assert described["policy"]["bandit"]["algorithm"] == "epsilon_greedy"
    page.wait_for_load_state("networkidle")


def test_a_viewer_sees_no_rollback_and_the_api_refuses_one(
    page: Any, auth_server: AuthServer, seeded: DeploymentSeed
) -> None:
    url, target = auth_server.url, "/deployments/fraud-api"
    expect_problems(page, "403 (Forbidden)")
    _log_in(page, url, seeded.viewer_token, target)
    expect(page.get_by_text("deploy-viewer · viewer")).to_be_visible()
    expect(page.get_by_role("table", name="Revisions of fraud-api, newest first")).to_be_visible()
    expect(page.locator("[data-api]")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Roll back"))).to_have_count(0)
    expect(page.get_by_label("To revision")).to_have_count(0)

    status, message = page.evaluate(
        """async (api) => {
            const response = await fetch(api, {
                method: "POST",
                headers: {"Content-Type": "application/json", "X-Kiln-UI": "1",
                          "X-Kiln-Project": document.body.dataset.project},
                body: "{}",
            });
            return [response.status, (await response.json()).message];
        }""",
        "/api/v1/deployments/fraud-api/rollback",
    )
    assert status == 403, message
    assert "viewer" in message
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text("fraud-api deployment, revision 2")
