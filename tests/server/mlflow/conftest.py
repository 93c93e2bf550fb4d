"""A real ``kiln server`` process for the stock ``mlflow`` client to talk to."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.server.background import free_port

mlflow = pytest.importorskip("mlflow", reason="the mlflow client is in the dev extra")


@pytest.fixture(scope="module")
def kiln_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``kiln server`` in its own process over a fresh embedded store; yields its URL."""
    home = tmp_path_factory.mktemp("kiln-mlflow-home")
    port = free_port()
    kiln = Path(sys.executable).with_name("kiln")
    env = {**os.environ, "KILN_HOME": str(home)}
    env.pop("KILN_DATABASE_URL", None)
    process = subprocess.Popen(
        [str(kiln), "server", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("kiln server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def client(kiln_server: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """The stock MLflow client pointed at the Kiln server."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", kiln_server)
    mlflow.set_tracking_uri(kiln_server)
    return mlflow.MlflowClient(kiln_server)
