"""MLflow 3 logged models against ``kiln server``: linked metrics and the model's file routes."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import Metric  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from kiln.context import Context  # noqa: E402
from kiln.errors import NotFound  # noqa: E402
from kiln.tracking import _experiments, _logged_models, _model_metrics, _runs  # noqa: E402
from kiln.tracking._entities import Metric as KilnMetric  # noqa: E402
from kiln.tracking._model_metrics import LinkedMetric  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow", "ignore:::sklearn")


def _by_key(metrics: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in metrics:
        out.setdefault(m.key, []).append(m)
    return out


def test_log_model_links_the_runs_metrics_without_duplicating_them(client: Any) -> None:
    """``log_model`` re-sends the run's step-0 points with the model id (MLflow 3)."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    features = rng.random((40, 2))
    model = LogisticRegression().fit(features, (features[:, 0] > 0.5).astype(int))
    mlflow.set_experiment("logged-model-metrics")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9, step=0)
        mlflow.log_metric("loss", 0.3, step=0)
        mlflow.log_metric("loss", 0.2, step=1)
        info = mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
        frame = pd.DataFrame(features, columns=["a", "b"])
        evaluation = mlflow.data.from_pandas(frame, name="holdout")
        mlflow.log_metric("f1", 0.75, step=3, model_id=info.model_id, dataset=evaluation)
    run_id = run.info.run_id

    logged = client.get_logged_model(info.model_id)
    metrics = _by_key(logged.metrics or [])
    assert sorted(metrics) == ["acc", "f1", "loss"]
    assert [(m.value, m.step, m.run_id) for m in metrics["acc"]] == [(0.9, 0, run_id)]
    assert [(m.value, m.step) for m in metrics["loss"]] == [(0.3, 0)]  # only the model's step
    (f1,) = metrics["f1"]
    assert (f1.value, f1.step, f1.dataset_name, f1.dataset_digest) == (
        0.75,
        3,
        "holdout",
        evaluation.digest,
    )
    assert f1.model_id == info.model_id

    # The run's own history holds each point once, linked or not.
    assert [m.value for m in client.get_metric_history(run_id, "acc")] == [0.9]
    assert [m.value for m in client.get_metric_history(run_id, "loss")] == [0.3, 0.2]
    assert [m.value for m in client.get_metric_history(run_id, "f1")] == [0.75]

    found = client.search_logged_models(experiment_ids=[run.info.experiment_id])
    assert {m.key for m in found[0].metrics} == {"acc", "f1", "loss"}


def test_linked_metric_errors_and_nan(client: Any) -> None:
    experiment = client.create_experiment("linked-errors")
    run = client.create_run(experiment)
    model = client.create_logged_model(experiment, source_run_id=run.info.run_id)
    client.log_batch(
        run.info.run_id,
        metrics=[
            Metric("m", math.nan, 1, 0, model_id=model.model_id),
            Metric("m", 1.0, 2, 1),  # not linked
        ],
    )
    (point,) = client.get_logged_model(model.model_id).metrics
    assert math.isnan(point.value)
    assert len(client.get_metric_history(run.info.run_id, "m")) == 2
    with pytest.raises(MlflowException) as missing:
        client.log_batch(run.info.run_id, metrics=[Metric("m", 1.0, 5, 0, model_id="m-nope")])
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as bad:
        client.log_batch(
            run.info.run_id,
            metrics=[Metric("m", 1.0, 5, 0, model_id=model.model_id, dataset_digest="x" * 65)],
        )
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    # Nothing of a refused batch was written.
    assert len(client.get_metric_history(run.info.run_id, "m")) == 2


def test_model_file_routes(client: Any, kiln_server: str, tmp_path: Path) -> None:
    experiment = client.create_experiment("logged-model-files")
    model = client.create_logged_model(experiment, name="files")
    folder = tmp_path / "model"
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "data" / "weights.bin").write_bytes(bytes(range(256)) * 40)
    client.log_model_artifacts(model.model_id, str(folder))
    client.finalize_logged_model(model.model_id, "READY")

    for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
        base = f"{kiln_server}{prefix}/logged-models/{model.model_id}/artifacts"
        root = httpx.get(f"{base}/directories").json()
        assert root["root_uri"].endswith(f"/models/{model.model_id}/artifacts")
        assert root["files"] == [
            {"path": "MLmodel", "is_dir": False, "file_size": 12},
            {"path": "data", "is_dir": True},
        ]
        data = httpx.get(f"{base}/directories", params={"artifact_directory_path": "data"})
        assert data.json()["files"] == [
            {"path": "data/weights.bin", "is_dir": False, "file_size": 10240}
        ]
        body = httpx.get(f"{base}/files", params={"artifact_file_path": "data/weights.bin"})
        assert body.status_code == 200
        assert body.content == bytes(range(256)) * 40
        assert "weights.bin" in body.headers["content-disposition"]

        missing = httpx.get(f"{base}/files", params={"artifact_file_path": "nope.txt"})
        assert (missing.status_code, missing.json()["error_code"]) == (
            404,
            "RESOURCE_DOES_NOT_EXIST",
        )
        no_path = httpx.get(f"{base}/files")
        assert no_path.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        escape = httpx.get(f"{base}/files", params={"artifact_file_path": "../../etc/passwd"})
        assert escape.status_code == 400
        escape_dir = httpx.get(f"{base}/directories", params={"artifact_directory_path": "../x"})
        assert escape_dir.status_code == 400

    unknown = httpx.get(f"{kiln_server}/api/2.0/mlflow/logged-models/m-nope/artifacts/directories")
    assert unknown.status_code == 404


def test_deleted_model_is_gone_unless_asked_for(client: Any, kiln_server: str) -> None:
    experiment = client.create_experiment("logged-model-deleted")
    model = client.create_logged_model(experiment)
    client.delete_logged_model(model.model_id)
    url = f"{kiln_server}/api/2.0/mlflow/logged-models/{model.model_id}"
    assert httpx.get(url).status_code == 404
    kept = httpx.get(url, params={"allow_deleted": "true"})
    assert kept.status_code == 200
    assert kept.json()["model"]["info"]["model_id"] == model.model_id


def test_linked_metrics_service_on_each_store(context: Context) -> None:
    """The service behind the routes, on SQLite and PostgreSQL."""
    project = context.settings.project
    db = context.db
    experiment = db.run(_experiments.create_experiment, project, "linked").id
    run = db.run(_runs.create_run, project, experiment, name="r")
    model = db.run(_logged_models.create_logged_model, project, experiment, source_run_id=run.id)
    db.run(_runs.log_batch, project, run.id, metrics=[KilnMetric("acc", 0.5, 0, 10)])
    batch = [
        LinkedMetric(KilnMetric("acc", 0.5, 0, 10), model.id),  # already in the run's history
        LinkedMetric(KilnMetric("acc", 0.7, 1, 11), model.id, "eval", "abc"),
        LinkedMetric(KilnMetric("loss", math.inf, 1, 11)),
    ]
    for _ in range(2):  # the same batch again links nothing new
        db.run(_model_metrics.log_batch_linked, project, run.id, batch)
    stored = db.read(_logged_models.get_logged_model, project, model.id).metrics
    assert [(m.key, m.value, m.step, m.run_id, m.dataset_name) for m in stored] == [
        ("acc", 0.5, 0, run.id, None),
        ("acc", 0.7, 1, run.id, "eval"),
    ]
    history = db.read(_runs.get_metric_history, project, run.id, "acc")
    assert [m.value for m in history] == [0.5, 0.7]
    # Unlinked points of a repeated batch are appended, as log_batch always does.
    assert len(db.read(_runs.get_metric_history, project, run.id, "loss")) == 2
    db.run(_logged_models.delete_logged_model, project, model.id)
    with pytest.raises(NotFound):
        db.run(_model_metrics.log_batch_linked, project, run.id, batch)
    # Purging the run keeps the model's points, without their run.
    db.run(_runs.purge_run, project, run.id)
    kept = db.read(_logged_models.get_logged_model, project, model.id, allow_deleted=True)
    assert [m.run_id for m in kept.metrics] == [None, None]


def test_search_filters_order_and_pages(client: Any) -> None:
    """MLflow's client finds models by name (``runs:/<run>/<name>``, ``register_model``)."""
    mlflow.set_experiment("logged-model-search")
    experiment = mlflow.get_experiment_by_name("logged-model-search").experiment_id
    run = client.create_run(experiment)
    run_id = run.info.run_id
    made = {}
    for name, acc in [("model", 0.6), ("another_model", 0.9), ("third", None)]:
        model = client.create_logged_model(
            experiment, name=name, source_run_id=run_id, params={"C": name}
        )
        made[name] = model.model_id
        if acc is not None:
            client.log_batch(
                run_id,
                metrics=[
                    Metric(
                        "acc",
                        acc,
                        1,
                        0,
                        model_id=model.model_id,
                        dataset_name="holdout",
                        dataset_digest="d1",
                    )
                ],
            )
    client.set_logged_model_tags(made["third"], {"stage": "dev"})

    def names(**kwargs: Any) -> list[str]:
        found = mlflow.search_logged_models(
            experiment_ids=[experiment], output_format="list", **kwargs
        )
        return [m.name for m in found]

    assert names() == ["third", "another_model", "model"]  # newest first
    assert names(filter_string="name = 'another_model'") == ["another_model"]
    assert names(filter_string="name LIKE '%model'") == ["another_model", "model"]
    assert names(filter_string="metrics.acc > 0.7") == ["another_model"]
    assert names(filter_string="params.C != 'model' AND tags.stage = 'dev'") == ["third"]
    assert names(filter_string=f"source_run_id = '{run_id}' AND status = 'PENDING'") == [
        "third",
        "another_model",
        "model",
    ]
    assert names(datasets=[{"dataset_name": "holdout"}]) == ["another_model", "model"]
    assert names(order_by=[{"field_name": "metrics.acc", "ascending": True}]) == [
        "model",
        "another_model",
        "third",
    ]
    assert names(order_by=[{"field_name": "creation_time", "ascending": True}]) == [
        "model",
        "another_model",
        "third",
    ]
    first = client.search_logged_models(experiment_ids=[experiment], max_results=2)
    assert [m.name for m in first] == ["third", "another_model"]
    rest = client.search_logged_models(
        experiment_ids=[experiment], max_results=2, page_token=first.token
    )
    assert ([m.name for m in rest], rest.token) == (["model"], None)
    assert names(max_results=1) == ["third"]

    with pytest.raises(MlflowException) as bad:
        names(filter_string="name = ")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad_order:
        names(order_by=[{"field_name": "params.C"}])
    assert bad_order.value.error_code == "INVALID_PARAMETER_VALUE"

    # register_model("runs:/<run>/<name>") looks the model up by name: the right one.
    client.finalize_logged_model(made["another_model"], "READY")
    client.set_terminated(run_id)
    version = mlflow.register_model(f"runs:/{run_id}/another_model", "searched-model")
    assert version.source == f"models:/{made['another_model']}"
