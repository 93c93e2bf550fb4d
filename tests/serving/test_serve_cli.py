"""``kiln serve`` as a real process: it serves, logs one JSON line per request, and on
SIGTERM stops taking new work, finishes what is in flight and exits 0."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from kiln.server.background import free_port
from tests.serving._models import save_scorer
from tests.serving.conftest import wait_ready

KILN = shutil.which("kiln", path=os.path.dirname(sys.executable))


def start(home: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    assert KILN is not None
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    # The pickled test model names its class in tests.serving._models: importable from the root.
    root = str(Path(__file__).resolve().parents[2])
    env.update(KILN_HOME=str(home), NO_COLOR="1", COLUMNS="200", PYTHONPATH=root)
    process = subprocess.Popen(
        [KILN, "serve", *args, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/v2/health/live", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None:
                break
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"kiln serve did not start: {process.communicate()[1][-2000:]}")


def test_serve_answers_logs_and_drains_on_sigterm(tmp_path: Path) -> None:
    # One second per call: the request below is surely in flight when SIGTERM arrives.
    slow_scorer = save_scorer(tmp_path / "slow", delay=1.0)
    process, url = start(tmp_path / "home", f"slow={slow_scorer}", "--allow-pickle")
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            assert wait_ready(client).status_code == 200
            body = {"records": [{"amount": 2.0, "count": 1, "city": "x"}]}
            answer = client.post(
                "/v1/models/slow/predict", json=body, headers={"x-request-id": "cli-1"}
            )
            assert answer.json()["predictions"] == [5.0]
            # A request in flight when SIGTERM arrives is still answered.
            slow = {"records": [{"amount": 1.0, "count": 1, "city": "x"}] * 3}
            results: list[int] = []
            sent = threading.Event()

            def call() -> None:
                with httpx.Client(base_url=url, timeout=30) as other:
                    other.get("/v2/health/live")  # connected: the next request reuses it
                    sent.set()
                    results.append(other.post("/v1/models/slow/predict", json=slow).status_code)

            worker = threading.Thread(target=call)
            worker.start()
            assert sent.wait(30)
            time.sleep(0.3)  # the model call (1 s) has begun
            process.send_signal(signal.SIGTERM)
            worker.join(30)
            assert results == [200]
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)  # closes the pipes
    assert process.returncode == 0, err[-2000:]
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    first = next(line for line in lines if line["request_id"] == "cli-1")
    assert (first["model"], first["route"], first["status"], first["rows"]) == (
        "slow",
        "predict",
        200,
        1,
    )
    assert first["latency_ms"] > 0
    assert "Serving slow" in out


def test_serve_refuses_bad_options_with_an_exit_code(tmp_path: Path) -> None:
    assert KILN is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("KILN_")}
    env.update(KILN_HOME=str(tmp_path / "home"), NO_COLOR="1")
    done = subprocess.run(
        [KILN, "serve", "x=", "--max-wait-ms", "5000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
