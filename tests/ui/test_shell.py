"""The shell in a real browser: navigation, project switcher, search, login and refusals."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui.conftest import AuthServer, expect_problems

pytestmark = pytest.mark.timeout(300)


def test_home_shows_the_demo_activity_and_every_area(
    page: Any, ui_server: str, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/")
    assert page.title() == "Home · Kiln"
    nav = page.get_by_role("navigation", name="Areas")
    for label in ("Home", "Experiments", "Models"):
        assert nav.get_by_role("link", name=label).is_visible()
    activity = page.locator(".activity")
    assert activity.get_by_text(re.compile(r" v\d+ registered")).first.is_visible()
    assert activity.get_by_text("mlflow-baseline").first.is_visible()
    shoot(page, "home")


def test_search_finds_runs_experiments_and_models(page: Any, ui_server: str) -> None:
    page.goto(ui_server + "/")
    page.keyboard.press("/")  # the search box's shortcut
    page.keyboard.type("fraud")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=fraud")
    assert page.get_by_role("heading", name="Experiments (1)").is_visible()
    assert page.get_by_role("link", name="fraud-detector", exact=True).is_visible()
    page.goto(ui_server + "/search?q=no-such-thing-anywhere")
    assert page.get_by_text("Nothing matches").is_visible()


def test_the_shell_fits_a_narrow_window(page: Any, ui_server: str) -> None:
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(ui_server + "/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 420, f"the page scrolls sideways ({width}px wide)"
    assert page.get_by_role("link", name="Models", exact=True).is_visible()


def test_login_with_a_token_then_log_out(page: Any, auth_server: AuthServer) -> None:
    expect_problems(page, "401 (Unauthorized)")
    page.goto(auth_server.url + "/models")
    page.wait_for_url("**/login?next=/models")
    page.get_by_label("API token").fill("kiln_not-a-real-token")
    page.get_by_role("button", name="Log in").click()
    assert page.get_by_role("alert").is_visible()
    page.get_by_label("API token").fill(auth_server.viewer_token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/models")
    assert page.get_by_text("ui-viewer · viewer").is_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/login")
    page.goto(auth_server.url + "/")
    page.wait_for_url("**/login?next=/")


def test_a_cookie_write_without_the_ui_header_is_refused(auth_server: AuthServer) -> None:
    """The CSRF guard: a form another site posts carries the cookie but not X-Kiln-UI."""
    import httpx

    cookies = {"kiln_session": auth_server.editor_token}
    with httpx.Client(base_url=auth_server.url, cookies=cookies) as client:
        assert client.get("/api/v1/users/me").status_code == 200
        refused = client.post("/api/v1/experiments", json={"name": "csrf"})
        assert refused.status_code == 401
        assert "x-kiln-ui" in refused.json()["message"]
        allowed = client.post(
            "/api/v1/experiments", json={"name": "ui-made"}, headers={"X-Kiln-UI": "1"}
        )
        assert allowed.status_code == 201, allowed.text


def test_the_project_switcher_changes_what_every_page_shows(page: Any, ui_server: str) -> None:
    import httpx

    created = httpx.post(f"{ui_server}/api/v1/projects", json={"name": "ui-other"})
    assert created.status_code in (201, 409), created.text
    page.goto(ui_server + "/models")
    assert page.get_by_role("link", name="fraud-detector", exact=True).is_visible()
    with page.expect_navigation(url="**/models"):
        page.get_by_label("Project").select_option("ui-other")
    assert page.get_by_label("Project").input_value() == "ui-other"
    assert page.get_by_role("link", name="fraud-detector", exact=True).count() == 0
    page.goto(ui_server + "/")  # the choice sticks (a cookie) across pages
    assert page.get_by_role("heading", level=1).inner_text().startswith("ui-other")
    with page.expect_navigation(url=ui_server + "/"):
        page.get_by_label("Project").select_option("demo")
    assert page.get_by_role("link", name="fraud-detector", exact=True).is_visible()
