"""MLflow clients authenticate with Kiln tokens (MLFLOW_TRACKING_TOKEN), and are audited."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln import auth
from kiln.config import Settings
from kiln.context import Context
from kiln.server.background import free_port

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Context, dict[str, str]]]:
    home = tmp_path_factory.mktemp("kiln-mlflow-auth")
    context = Context(Settings(home=home))
    context.db.run(auth.create_user, "eve")
    context.db.run(auth.create_user, "vic")
    context.db.run(auth.set_member, "default", "eve", "editor")
    context.db.run(auth.set_member, "default", "vic", "viewer")
    tokens = {
        user: context.db.run(auth.create_token, user, "default").secret for user in ("eve", "vic")
    }
    port = free_port()
    env = {**os.environ, "KILN_HOME": str(home)}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("kiln")), "server", "--auth", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
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
        yield url, context, tokens
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        context.close()


def _client(url: str, monkeypatch: pytest.MonkeyPatch, token: str | None) -> Any:
    if token is None:
        monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", token)
    return mlflow.MlflowClient(url)


def test_tokens_roles_and_audit(
    secured: tuple[str, Context, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, context, tokens = secured
    with pytest.raises(MlflowException) as anonymous:
        _client(url, monkeypatch, None).create_experiment("nope")
    assert anonymous.value.error_code == "UNAUTHENTICATED"
    editor = _client(url, monkeypatch, tokens["eve"])
    experiment_id = editor.create_experiment("with-token")
    run = editor.create_run(experiment_id)
    editor.log_metric(run.info.run_id, "auc", 0.9)
    viewer = _client(url, monkeypatch, tokens["vic"])
    assert viewer.get_run(run.info.run_id).data.metrics == {"auc": 0.9}
    with pytest.raises(MlflowException) as denied:
        viewer.log_metric(run.info.run_id, "auc", 0.1)
    assert denied.value.error_code == "PERMISSION_DENIED"
    entries = context.db.read(auth.list_entries, project="default", limit=100)
    by_action = {(e.action, e.actor, e.outcome) for e in entries}
    assert ("create_experiment", "eve", "ok") in by_action
    assert ("log_metric", "eve", "ok") in by_action
    assert ("log_metric", "vic", "denied") in by_action
