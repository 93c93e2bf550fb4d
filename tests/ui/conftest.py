"""Browser tests: a real ``kiln server`` process seeded by the demo, and headless Chromium.

Reusable by every page's tests:

- ``ui_home``: a ``KILN_HOME`` filled once per session by ``kiln demo``.
- ``ui_server``: ``kiln server`` (auth off) over it; yields its URL.
- ``auth_server``: a second server over the same store with ``--auth``, and
  tokens for an editor and a viewer of the demo project (``AuthServer``).
- ``browser``: Debian's Chromium driven by Playwright (skipped locally when
  absent, a failure under ``CI=true``).
- ``page``: a fresh 1280x800 page that records console errors and failed
  requests; the test fails if any happened (``page_problems`` lists them).
- ``shoot(page, name)``: saves a screenshot under ``tests/ui/screenshots``
  (or ``$KILN_TEST_SCREENSHOTS``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiln.server.background import free_port
from tests.conftest import IN_CI

CHROMIUM = os.environ.get("KILN_TEST_CHROMIUM", "/usr/bin/chromium")
KILN = str(Path(sys.executable).with_name("kiln"))
SCREENSHOTS = Path(os.environ.get("KILN_TEST_SCREENSHOTS", Path(__file__).with_name("screenshots")))


def _environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env["KILN_HOME"] = str(home)
    env["KILN_PROJECT"] = "demo"
    return env


@pytest.fixture(scope="session")
def ui_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store seeded by ``kiln demo`` (small data, every stage), shared by the session."""
    home = tmp_path_factory.mktemp("kiln-ui-home")
    subprocess.run(
        [KILN, "demo", "--transactions", "5000"],
        env=_environment(home),
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=600,
    )
    return home


def _serve(home: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [KILN, "server", "--port", str(port), "--log-level", "warning", *extra],
        env=_environment(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return process, url
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                _stop(process)
                raise RuntimeError(f"kiln server {' '.join(extra)} did not start") from None
            time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def ui_server(ui_home: Path) -> Iterator[str]:
    process, url = _serve(ui_home)
    try:
        yield url
    finally:
        _stop(process)


@dataclass(frozen=True)
class AuthServer:
    url: str
    editor_token: str
    viewer_token: str


def _token(home: Path, user: str, role: str) -> str:
    env = _environment(home)
    subprocess.run(
        [KILN, "users", "create", user], env=env, check=True, capture_output=True, timeout=60
    )
    subprocess.run(
        [KILN, "projects", "add-member", "demo", user, "--role", role],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    done = subprocess.run(
        [KILN, "tokens", "create", "--user", user, "--project", "demo", "--role", role, "--json"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(json.loads(done.stdout)["secret"])


@pytest.fixture(scope="session")
def auth_server(ui_home: Path) -> Iterator[AuthServer]:
    """``kiln server --auth`` over the demo store, with an editor's and a viewer's token."""
    editor = _token(ui_home, "ui-editor", "editor")
    viewer = _token(ui_home, "ui-viewer", "viewer")
    process, url = _serve(ui_home, "--auth")
    try:
        yield AuthServer(url, editor, viewer)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), driven by Playwright."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires it")
        pytest.skip(message)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page_problems() -> list[str]:
    return []


@pytest.fixture
def page(browser: Any, page_problems: list[str]) -> Iterator[Any]:
    """A fresh 1280x800 page; console errors and failed requests fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on(
        "console",
        lambda message: (
            page_problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda error: page_problems.append(f"page error: {error}"))
    page.on(
        "requestfailed",
        lambda request: (
            page_problems.append(
                f"failed request: {request.method} {request.url} ({request.failure})"
            )
            # a load the test navigated away from is cancelled, not failed
            if "ERR_ABORTED" not in (request.failure or "")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            page_problems.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 500
            else None
        ),
    )
    try:
        yield page
    finally:
        context.close()
    expected = getattr(page, "_kiln_expected_problems", ())
    unexpected = [p for p in page_problems if not any(e in p for e in expected)]
    assert not unexpected, "the page had problems:\n" + "\n".join(unexpected)


def expect_problems(page: Any, *fragments: str) -> None:
    """Declare console/network problems this test provokes on purpose (e.g. a refused write)."""
    page._kiln_expected_problems = (*getattr(page, "_kiln_expected_problems", ()), *fragments)


@pytest.fixture(scope="session")
def shoot() -> Callable[[Any, str], Path]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=False)
        return path

    return save
