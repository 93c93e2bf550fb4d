"""``kiln server`` as a real process: it answers over HTTP and stops cleanly on SIGTERM.

Each server runs in its own process group, so the finally block can kill the
parent and any worker processes it forked, whatever the test did.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kiln import auth
from kiln.db import Database
from kiln.server.background import free_port

pytestmark = pytest.mark.skipif(
    sys.platform == "win32", reason="uses POSIX signals and process groups"
)

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request(
    url: str, *, method: str = "GET", headers: dict[str, str] | None = None, body: Any = None
) -> Response:
    data = json.dumps(body).encode() if body is not None else None
    sent = dict(headers or {})
    if data is not None:
        sent["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=sent, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as answer:
            return Response(
                answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
            )
    except urllib.error.HTTPError as error:
        with error:
            return Response(
                error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
            )


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit code once the process has ended by itself."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"kiln server ignored SIGTERM for {STOP_TIMEOUT} s:\n{self.output()}")


def _wait_until_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"kiln server exited with {server.process.returncode}:\n{server.output()}")
        try:
            with urllib.request.urlopen(f"{server.url}/health", timeout=1) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    pytest.fail(f"kiln server did not answer /health within {START_TIMEOUT} s:\n{server.output()}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def kiln_server(home: Path, log_dir: Path, *options: str) -> Iterator[Server]:
    """``kiln server --port <free> *options`` until the block ends; always killed after."""
    assert KILN is not None, "the kiln console script is not installed next to python"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    env.update(KILN_HOME=str(home), COLUMNS="250", NO_COLOR="1")
    log = log_dir / f"server-{port}.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [KILN, "server", "--port", str(port), *options],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kiln-home"


def assert_stopped_gracefully(server: Server, *, exit_codes: tuple[int, ...] = (0,)) -> None:
    """SIGTERM ends the server by itself: app shut down, no traceback, nothing left behind."""
    code = server.stop()

    assert code in exit_codes, server.output()
    assert "Application shutdown complete" in server.output()
    assert "Traceback" not in server.output()
    # Nothing of the server (workers included) outlives the parent.
    deadline = time.monotonic() + 5
    while _group_alive(server.process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(server.process.pid), "a server process outlived SIGTERM"


#: `kiln server` exits 0 after a graceful shutdown, whatever the worker count.
SINGLE_PROCESS_EXITS = (0,)


def test_server_answers_and_stops_on_sigterm(home: Path, tmp_path: Path) -> None:
    with kiln_server(home, tmp_path) as server:
        health = request(f"{server.url}/health")
        assert health.status == 200
        assert health.json()["status"] == "ok"
        assert health.json()["database"] == "ok"
        assert re.fullmatch(r"[0-9a-f]{32}", health.headers["x-request-id"])
        again = request(f"{server.url}/health")
        assert again.headers["x-request-id"] != health.headers["x-request-id"]

        echoed = request(f"{server.url}/health", headers={"X-Request-ID": "trace-42.a_b"})
        assert echoed.headers["x-request-id"] == "trace-42.a_b"
        refused = request(f"{server.url}/health", headers={"X-Request-ID": "no spaces;allowed"})
        assert re.fullmatch(r"[0-9a-f]{32}", refused.headers["x-request-id"])

        docs = request(f"{server.url}/docs")
        assert docs.status == 200
        assert b"swagger" in docs.body.lower()
        openapi = request(f"{server.url}/openapi.json")
        assert openapi.status == 200
        assert openapi.json()["info"]["title"] == "Kiln"
        assert {"/health", "/api/v1/projects"} <= set(openapi.json()["paths"])

        created = request(
            f"{server.url}/api/v1/projects",
            method="POST",
            body={"name": "fraud"},
            headers={"X-Request-ID": "create-fraud"},
        )
        assert created.status == 201, created.body
        assert created.json()["name"] == "fraud"

        assert_stopped_gracefully(server, exit_codes=SINGLE_PROCESS_EXITS)

    assert f"Kiln server on {server.url}" in server.output()
    assert "auth off" in server.output()
    assert "rid=trace-42.a_b" in server.output()
    audit = subprocess.run(
        [str(KILN), "audit", "--json"],
        env=dict(os.environ, KILN_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    [entry] = json.loads(audit.stdout)
    assert (entry["method"], entry["path"], entry["status_code"]) == (
        "POST",
        "/api/v1/projects",
        201,
    )
    assert entry["request_id"] == "create-fraud"


def test_server_with_two_workers(home: Path, tmp_path: Path) -> None:
    with kiln_server(home, tmp_path, "--workers", "2") as server:
        # The first worker up answers /health; wait for the second one too.
        deadline = time.monotonic() + START_TIMEOUT
        while server.output().count("Application startup complete") < 2:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.05)
        workers = set(re.findall(r"Started server process \[(\d+)\]", server.output()))
        assert len(workers) == 2, server.output()
        assert str(server.process.pid) not in workers

        answers = [request(f"{server.url}/health") for _ in range(10)]
        assert {answer.status for answer in answers} == {200}
        assert {answer.json()["status"] for answer in answers} == {"ok"}

        assert_stopped_gracefully(server)
    assert server.output().count("Finished server process") == 2


def test_server_with_auth_refuses_anonymous_callers(home: Path, tmp_path: Path) -> None:
    database = Database(f"sqlite:///{home / 'kiln.db'}")
    try:
        database.run(auth.create_user, "alice", is_admin=True)
        secret = database.run(auth.create_token, "alice", "default").secret
    finally:
        database.dispose()

    with kiln_server(home, tmp_path, "--auth") as server:
        assert request(f"{server.url}/health").status == 200

        anonymous = request(f"{server.url}/api/v1/projects")
        assert anonymous.status == 401
        body = anonymous.json()
        assert body["error_code"] == "UNAUTHENTICATED"
        assert body["message"]
        assert body["request_id"] == anonymous.headers["x-request-id"]
        assert anonymous.headers["www-authenticate"] == "Bearer"

        wrong = request(
            f"{server.url}/api/v1/projects", headers={"Authorization": "Bearer kiln_wrong"}
        )
        assert wrong.status == 401
        assert wrong.json()["error_code"] == "UNAUTHENTICATED"

        signed_in = request(
            f"{server.url}/api/v1/projects", headers={"Authorization": f"Bearer {secret}"}
        )
        assert signed_in.status == 200, signed_in.body
        assert "default" in [project["name"] for project in signed_in.json()]

        assert_stopped_gracefully(server, exit_codes=SINGLE_PROCESS_EXITS)

    assert "auth on" in server.output()
    assert "no administrator yet" not in server.output()


def test_server_with_auth_and_no_admin_warns(home: Path, tmp_path: Path) -> None:
    with kiln_server(home, tmp_path, "--auth") as server:
        assert request(f"{server.url}/api/v1/projects").status == 401
        assert_stopped_gracefully(server, exit_codes=SINGLE_PROCESS_EXITS)

    assert "auth is on but there is no administrator yet" in server.output()


def test_single_worker_server_exits_0_on_sigterm(home: Path, tmp_path: Path) -> None:
    with kiln_server(home, tmp_path) as server:
        assert server.stop() == 0
