"""``kiln import mlflow --from http://…``: a real ``mlflow server`` process as the source.

The source is written with the stock client through the server (files go
through its ``mlflow-artifacts`` proxy), then imported into Kiln over HTTP:
runs, dataset inputs, an MLflow 3 logged model with its files and linked
metrics, and the registry version pointing at it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

from kiln.context import Context  # noqa: E402
from kiln.migration import import_mlflow  # noqa: E402
from kiln.registry import _versions  # noqa: E402
from kiln.server.background import free_port  # noqa: E402
from kiln.tracking import _artifacts, _logged_models, _runs  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:::mlflow", "ignore:::sklearn"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``mlflow server`` over SQLite with proxied artifacts, on a free port; yields its URL."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server"),
            *("--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"),
            *("--artifacts-destination", str(folder / "artifacts")),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.close()
                    raise RuntimeError(
                        "mlflow server did not start:\n" + (folder / "server.log").read_text()
                    ) from None
                time.sleep(0.25)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def _model_files(client: Any, model_id: str, path: str | None = None) -> dict[str, int]:
    files: dict[str, int] = {}
    for info in client.list_logged_model_artifacts(model_id, path):
        if info.is_dir:
            files.update(_model_files(client, model_id, info.path))
        else:
            files[info.path] = info.file_size
    return files


@pytest.fixture(scope="module")
def logged(mlflow_server: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A run with a dataset input, an sklearn model logged (MLflow 3) and registered."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    folder = tmp_path_factory.mktemp("http-source-files")
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(mlflow_server)
    try:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame(rng.random((30, 2)), columns=["a", "b"])
        model = LogisticRegression().fit(frame, (frame["a"] > 0.5).astype(int))
        mlflow.set_experiment("http-source")
        with mlflow.start_run(run_name="train") as run:
            mlflow.log_param("C", "1.0")
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("acc", 0.8, step=0)
            dataset = mlflow.data.from_pandas(frame, name="train-frame")
            mlflow.log_input(dataset, context="training")
            (folder / "notes.txt").write_text("from the http source")
            mlflow.log_artifact(str(folder / "notes.txt"))
            # Given requirements: inferring them imports half the environment (slow).
            info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        version = mlflow.register_model(info.model_uri, "http-clf")
        client = mlflow.MlflowClient(mlflow_server)
        return {
            "url": mlflow_server,
            "run": run.info.run_id,
            "model": info.model_id,
            "digest": dataset.digest,
            "files": _model_files(client, info.model_id),
            "version": int(version.version),
        }
    finally:
        mlflow.set_tracking_uri(before)


def test_import_from_an_mlflow_server(context: Context, logged: dict[str, Any]) -> None:
    project = context.settings.project
    db = context.db
    summary = import_mlflow(context, logged["url"])
    assert (summary.runs_imported, summary.dataset_inputs) == (1, 1)
    assert (summary.logged_models_imported, summary.versions_imported) == (1, 1)
    assert summary.logged_model_files == len(logged["files"])
    run_id = summary.run_ids[logged["run"]]

    run = db.read(_runs.get_run, project, run_id)
    assert run.params == {"C": "1.0"}
    assert [m.value for m in db.read(_runs.get_metric_history, project, run_id, "loss")] == [
        1.0,
        0.5,
        1.0 / 3,
    ]
    # log_model re-sent the step-0 points with the model id; the run holds them once.
    assert [m.value for m in db.read(_runs.get_metric_history, project, run_id, "acc")] == [0.8]
    (used,) = run.inputs
    assert (used.name, used.digest, used.context, used.source_type) == (
        "train-frame",
        logged["digest"],
        "training",
        "code",
    )
    files = db.read(_artifacts.list_artifacts, project, run_id)
    assert [f.path for f in files] == ["notes.txt"]
    assert context.artifacts.read_bytes(files[0].digest) == b"from the http source"

    kiln_model = summary.logged_model_ids[logged["model"]]
    model = db.read(_logged_models.get_logged_model, project, kiln_model)
    assert (model.name, model.status, model.source_run_id) == ("model", "READY", run_id)
    assert model.experiment_id == run.experiment_id
    stored = {
        f.path: f.size for f in db.read(_logged_models.list_model_artifacts, project, model.id)
    }
    assert stored == logged["files"]
    assert "MLmodel" in stored
    assert {(m.key, m.step, m.run_id) for m in model.metrics} == {
        ("acc", 0, run_id),
        ("loss", 0, run_id),
    }

    (version,) = db.read(_versions.list_model_versions, project, "http-clf")
    assert (version.version, version.source, version.run_id) == (
        logged["version"],
        f"models:/{kiln_model}",
        run_id,
    )

    again = import_mlflow(context, logged["url"])
    assert again.nothing_new
    assert (again.runs_skipped, again.logged_models_skipped, again.versions_skipped) == (1, 1, 1)
