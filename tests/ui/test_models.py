"""The Models pages in a real browser: list, model, version; promote and roll back through the
API with confirmation; a gate's refusal in the dialog; what viewers and editors may do.

The demo store is shared by the session, so every test leaves the aliases as the demo set them
(``challenger`` on v2, ``champion`` on v1) and adds few alias events.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.ui.conftest import AuthServer, expect_problems

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)

MODEL = "fraud-detector"
API = f"/api/v1/registered-models/{MODEL}"


def _holder(url: str, alias: str, token: str | None = None) -> int | None:
    """The version ``alias`` points at, through the JSON API (None: not set)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{url}{API}/aliases/{alias}", headers=headers, timeout=30)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    return int(response.json()["version"])


def _confirm(page: Any, text: str) -> Any:
    """The open confirmation dialog, after checking what it asks."""
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(text)
    return dialog


def _settle(page: Any) -> None:
    """Let the reloaded page finish loading: closing it mid-request counts as a failed request."""
    page.wait_for_load_state("networkidle")


def test_models_list_shows_the_demo_models_and_alias_badges(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/models")
    assert page.title() == "Models · Kiln"
    table = page.get_by_role("table", name="Registered models")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=MODEL, exact=True))
    expect(row).to_contain_text("@champion v1")
    expect(row).to_contain_text("@challenger v2")
    mlflow = table.get_by_role("row").filter(has_text=f"{MODEL}-mlflow")
    expect(mlflow).to_contain_text("@baseline v1")
    shoot(page, "models")

    # The filter box speaks the registry's filter language, and updates the list in place.
    page.get_by_label("Filter", exact=True).fill("name LIKE '%mlflow'")
    page.get_by_role("button", name="Apply").click()
    expect(table.get_by_role("link", name=MODEL, exact=True)).to_have_count(0)
    expect(table.get_by_role("link", name=f"{MODEL}-mlflow")).to_be_visible()
    assert "q=name+LIKE" in page.url
    expect_problems(page, "400 (Bad Request)")
    page.get_by_label("Filter", exact=True).fill("name LIKE")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text("Filter refused")

    page.goto(ui_server + "/models")
    page.get_by_role("link", name=MODEL, exact=True).click()
    page.wait_for_url(f"**/models/{MODEL}")
    _settle(page)


def test_model_page_shows_versions_aliases_gate_and_history(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(f"{ui_server}/models/{MODEL}")
    assert page.title() == f"{MODEL} · Kiln"
    versions = page.get_by_role("table", name=re.compile("Versions of"))
    expect(versions.get_by_role("link", name="v1", exact=True)).to_be_visible()
    expect(versions.get_by_role("link", name="v2", exact=True)).to_be_visible()
    run_links = versions.locator('a[href^="/runs/"]')
    expect(run_links).to_have_count(2)

    champion = page.locator("#alias-champion")
    expect(champion).to_contain_text("v1")
    expect(champion).to_contain_text("auc-floor: auc >= 0.8")
    expect(champion).to_contain_text("beats-champion")
    expect(page.locator("#alias-challenger")).to_contain_text("v2")

    history = page.get_by_role("table", name=re.compile("Alias history"))
    first_champion = history.get_by_role("row").filter(has_text="@champion").last
    expect(first_champion).to_contain_text("passed auc-floor")
    expect(first_champion).to_contain_text("passed beats-champion")
    expect(first_champion).to_contain_text("kiln demo")
    shoot(page, "model")

    page.get_by_role("link", name="v1", exact=True).first.click()
    page.wait_for_url(f"**/models/{MODEL}/versions/1")
    expect(page.get_by_text("Manifest SHA-256")).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Inputs"))).to_be_visible()
    expect(page.get_by_text("scikit-learn==", exact=False).first).to_be_visible()
    run_link = page.locator('a[href^="/runs/"]')
    expect(run_link).to_have_count(1)


def test_promote_then_roll_back_with_confirmation(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    assert _holder(ui_server, "challenger") == 2
    page.goto(f"{ui_server}/models/{MODEL}")
    form = page.locator("form.promote")
    form.get_by_label("Version").select_option("1")
    form.get_by_label("Alias").fill("challenger")
    form.get_by_label("Note").fill("ui test")
    form.get_by_role("button", name="Promote…").click()
    dialog = _confirm(page, "Point @challenger at v1?")
    shoot(page, "model-promote-dialog")
    dialog.get_by_role("button", name="Confirm").click()

    expect(page.locator("#alias-challenger")).to_contain_text("v1")
    expect(page.locator("#toast")).to_contain_text("@challenger → v1")
    assert _holder(ui_server, "challenger") == 1
    history = page.get_by_role("table", name=re.compile("Alias history"))
    expect(history.get_by_role("row").nth(1)).to_contain_text("ui test")

    page.get_by_role("button", name="Roll back to v2 (@challenger)").click()
    dialog = _confirm(page, "Roll @challenger back from v1 to v2?")
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#alias-challenger")).to_contain_text("v2")
    expect(history.get_by_role("row").nth(1)).to_contain_text("rollback")
    assert _holder(ui_server, "challenger") == 2
    _settle(page)


def test_cancelling_the_dialog_changes_nothing(page: Any, ui_server: str) -> None:
    page.goto(f"{ui_server}/models/{MODEL}")
    page.get_by_role("button", name="Remove @challenger").click()
    dialog = _confirm(page, "Remove @challenger (now v2)?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert _holder(ui_server, "challenger") == 2


def test_a_gate_refusal_is_shown_in_the_dialog(page: Any, ui_server: str) -> None:
    """v2 (the demo's xgboost, AUC ≈ 0.76) fails both of the champion's checks."""
    expect_problems(page, "409 (Conflict)")
    page.goto(f"{ui_server}/models/{MODEL}")
    form = page.locator("form.promote")
    form.get_by_label("Version").select_option("2")
    alias = form.get_by_label("Alias")
    alias.fill("champion")
    alias.press("Enter")  # the keyboard submits the form
    dialog = _confirm(page, "Point @champion at v2?")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Confirm")).to_be_focused()
    page.keyboard.press("Enter")
    refusal = dialog.get_by_role("alert")
    expect(refusal).to_contain_text("stays on version 1")
    expect(refusal).to_contain_text("auc-floor")
    expect(refusal).to_contain_text("beats-champion")
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert _holder(ui_server, "champion") == 1


def _log_in(page: Any, url: str, token: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{target}")


def test_viewers_see_no_controls_and_the_api_refuses_them_editors_act(
    page: Any, auth_server: AuthServer
) -> None:
    url, target = auth_server.url, f"/models/{MODEL}"
    expect_problems(page, "403 (Forbidden)")
    _log_in(page, url, auth_server.viewer_token, target)
    expect(page.get_by_text("ui-viewer · viewer")).to_be_visible()
    expect(page.locator("#alias-champion")).to_contain_text("v1")
    expect(page.locator("[data-api]")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Roll back|Remove|Promote"))).to_have_count(0)
    page.goto(f"{url}{target}/versions/2")
    expect(page.locator("[data-api]")).to_have_count(0)

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
        f"{API}/aliases/challenger/rollback",
    )
    assert status == 403, message
    assert _holder(url, "challenger", auth_server.editor_token) == 2

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    _log_in(page, url, auth_server.editor_token, target)
    expect(page.get_by_text("ui-editor · editor")).to_be_visible()
    form = page.locator("form.promote")
    expect(form.get_by_label(re.compile("Force"))).to_have_count(0)  # admins only
    form.get_by_label("Version").select_option("1")
    form.get_by_label("Alias").fill("staging")
    form.get_by_role("button", name="Promote…").click()
    _confirm(page, "Point @staging at v1?").get_by_role("button", name="Confirm").click()
    expect(page.locator("#alias-staging")).to_contain_text("v1")
    assert _holder(url, "staging", auth_server.editor_token) == 1

    page.get_by_role("button", name="Roll back to unset (@staging)").click()
    _confirm(page, "Roll @staging back").get_by_role("button", name="Confirm").click()
    expect(page.locator("#toast")).to_contain_text("@staging rolled back → unset")
    expect(page.locator("#alias-staging")).to_have_count(0)  # unset, ungated, nothing to undo
    assert _holder(url, "staging", auth_server.editor_token) is None
    _settle(page)
