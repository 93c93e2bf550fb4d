"""The stock ``mlflow`` client against ``kiln server``: experiments, runs, metrics, artifacts."""

from __future__ import annotations

import math
import uuid
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")
from mlflow.exceptions import MlflowException  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_experiments(client: Any) -> None:
    name = _name("exp")
    experiment_id = client.create_experiment(name, tags={"team": "fraud"})
    experiment = client.get_experiment(experiment_id)
    assert (experiment.name, experiment.tags["team"]) == (name, "fraud")
    assert client.get_experiment_by_name(name).experiment_id == experiment_id
    assert client.get_experiment_by_name(_name("missing")) is None
    client.rename_experiment(experiment_id, name + "-renamed")
    client.set_experiment_tag(experiment_id, "stage", "dev")
    assert client.get_experiment(experiment_id).tags["stage"] == "dev"
    found = client.search_experiments(filter_string=f"name = '{name}-renamed'")
    assert [e.experiment_id for e in found] == [experiment_id]
    client.delete_experiment(experiment_id)
    assert client.get_experiment(experiment_id).lifecycle_stage == "deleted"
    client.restore_experiment(experiment_id)
    with pytest.raises(MlflowException) as caught:
        client.create_experiment(name + "-renamed")
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_fluent_run_params_metrics_tags(client: Any) -> None:
    mlflow.set_experiment(_name("fluent"))
    with mlflow.start_run(run_name="baseline") as run:
        mlflow.log_param("lr", 0.1)
        mlflow.log_params({"depth": 3, "model": "xgb"})
        for step in range(5):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"auc": 0.91, "nan": math.nan, "inf": math.inf})
        mlflow.set_tag("team", "fraud")
    stored = client.get_run(run.info.run_id)
    assert stored.info.status == "FINISHED"
    assert stored.info.run_name == "baseline"
    assert stored.data.params == {"lr": "0.1", "depth": "3", "model": "xgb"}
    assert stored.data.metrics["loss"] == pytest.approx(0.2)
    assert math.isnan(stored.data.metrics["nan"])
    assert stored.data.metrics["inf"] == math.inf
    assert stored.data.tags["team"] == "fraud"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]


def test_batches_and_nested_runs(client: Any) -> None:
    from mlflow.entities import Metric, Param, RunTag

    experiment_id = client.create_experiment(_name("batch"))
    parent = client.create_run(experiment_id, run_name="parent")
    metrics = [Metric("m", float(i), 1000 + i, i) for i in range(100)]
    client.log_batch(
        parent.info.run_id, metrics=metrics, params=[Param("p", "1")], tags=[RunTag("t", "v")]
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    with mlflow.start_run(run_id=parent.info.run_id), mlflow.start_run(nested=True) as child:
        mlflow.log_metric("child_metric", 1.0)
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert len(client.get_metric_history(parent.info.run_id, "m")) == 100


def test_search_runs_with_filters_and_order(client: Any) -> None:
    experiment_id = client.create_experiment(_name("search"))
    for index, model in enumerate(["xgb", "lr", "xgb"]):
        run = client.create_run(experiment_id, run_name=f"r{index}")
        client.log_param(run.info.run_id, "model", model)
        client.log_metric(run.info.run_id, "auc", 0.7 + index / 10)
        client.set_terminated(run.info.run_id)
    found = client.search_runs(
        [experiment_id],
        filter_string="params.model = 'xgb' and metrics.auc > 0.6",
        order_by=["metrics.auc DESC"],
    )
    assert [r.info.run_name for r in found] == ["r2", "r0"]
    frame = mlflow.search_runs([experiment_id], order_by=["metrics.auc ASC"])
    assert list(frame["tags.mlflow.runName"]) == ["r0", "r1", "r2"]
    with pytest.raises(MlflowException) as caught:
        client.search_runs([experiment_id], filter_string="metrics.auc >> 1")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_artifacts_round_trip(client: Any, tmp_path: Path) -> None:
    mlflow.set_experiment(_name("artifacts"))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("A")
    (tmp_path / "b.bin").write_bytes(bytes(range(256)) * 4096)
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(tmp_path / "b.bin"))
        mlflow.log_artifacts(str(tmp_path / "sub"), "folder")
        mlflow.log_dict({"lr": 0.1}, "config/params.json")
    run_id = run.info.run_id
    top = {(f.path, f.is_dir) for f in client.list_artifacts(run_id)}
    assert top == {("b.bin", False), ("folder", True), ("config", True)}
    assert [f.path for f in client.list_artifacts(run_id, "folder")] == ["folder/a.txt"]
    local = Path(client.download_artifacts(run_id, "b.bin", str(tmp_path / "down")))
    assert local.read_bytes() == bytes(range(256)) * 4096
    config = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="config"))
    assert (config / "params.json").read_text().count("lr") == 1


def test_delete_and_restore_runs(client: Any) -> None:
    experiment_id = client.create_experiment(_name("lifecycle"))
    run = client.create_run(experiment_id)
    client.delete_run(run.info.run_id)
    assert client.get_run(run.info.run_id).info.lifecycle_stage == "deleted"
    assert client.search_runs([experiment_id]) == []
    client.restore_run(run.info.run_id)
    assert [r.info.run_id for r in client.search_runs([experiment_id])] == [run.info.run_id]


def test_error_codes_of_common_failures(client: Any) -> None:
    experiment_id = client.create_experiment(_name("errors"))
    run = client.create_run(experiment_id)
    client.log_param(run.info.run_id, "lr", "0.1")
    failures = {
        "relog a param": lambda: client.log_param(run.info.run_id, "lr", "0.2"),
        "unknown run": lambda: client.get_run("0" * 32),
        "unknown experiment": lambda: client.get_experiment("987654"),
        "bad metric key": lambda: client.log_metric(run.info.run_id, "../x", 1.0),
    }
    codes = {}
    for label, call in failures.items():
        with pytest.raises(MlflowException) as caught:
            call()
        codes[label] = caught.value.error_code
    assert codes == {
        "relog a param": "INVALID_PARAMETER_VALUE",
        "unknown run": "RESOURCE_DOES_NOT_EXIST",
        "unknown experiment": "RESOURCE_DOES_NOT_EXIST",
        "bad metric key": "INVALID_PARAMETER_VALUE",
    }


def test_mlflow_runs_are_kiln_runs(client: Any, kiln_server: str) -> None:
    """An MLflow run is visible through Kiln's own API (same services, same store)."""
    import httpx

    experiment_id = client.create_experiment(_name("shared"))
    run = client.create_run(experiment_id, run_name="shared")
    client.log_metric(run.info.run_id, "auc", 0.9)
    kiln_view = httpx.get(f"{kiln_server}/api/v1/runs/{run.info.run_id}").json()
    assert kiln_view["name"] == "shared"
    assert kiln_view["metrics"]["auc"]["value"] == 0.9


@pytest.mark.parametrize(
    "path",
    [
        "1/run/artifacts/../../etc/passwd",
        "1/run/artifacts/%2e%2e/x",
        "/etc/passwd",
        "1/run/artifacts/a#/../b",
        "1/run/artifacts/a\\..\\b",
    ],
)
def test_artifact_proxy_refuses_traversal(kiln_server: str, path: str) -> None:
    import httpx

    response = httpx.get(f"{kiln_server}/api/2.0/mlflow-artifacts/artifacts", params={"path": path})
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_probe_routes(kiln_server: str) -> None:
    import httpx

    from kiln import __version__

    assert httpx.get(f"{kiln_server}/version").text == __version__
    assert httpx.get(f"{kiln_server}/health").json()["status"] == "ok"
    info = httpx.get(f"{kiln_server}/api/3.0/mlflow/server-info").json()
    assert info["kiln_version"] == __version__
    ajax = httpx.get(f"{kiln_server}/ajax-api/2.0/mlflow/experiments/search")
    assert ajax.status_code == 200
