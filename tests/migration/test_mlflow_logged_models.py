"""``kiln import mlflow`` of MLflow 3 logged models and run dataset inputs, from a SQLite store."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from mlflow.entities import Dataset, DatasetInput, InputTag, Metric  # noqa: E402

from kiln.context import Context  # noqa: E402
from kiln.migration import import_mlflow  # noqa: E402
from kiln.registry import _versions  # noqa: E402
from kiln.tracking import _logged_models, _runs, _search  # noqa: E402
from kiln.tracking._entities import DatasetInput as KilnDatasetInput  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

WEIGHTS = bytes(range(256)) * 8
MLMODEL = "artifact_path: model\nflavors: {}\n"


@dataclass
class Source:
    uri: str
    client: Any
    experiment: str
    run: str
    model: str  # READY, with files, metrics and a registry version
    pending: str  # still PENDING
    folder: Path


def _files(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    (folder / "MLmodel").write_text(MLMODEL)
    (folder / "data" / "weights.bin").write_bytes(WEIGHTS)
    return folder


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Source]:
    (tmp_path / "mlflow").mkdir()
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    # MLflow's SQL registry resolves ``models:/m-…`` through the global tracking URI.
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield _write_source(uri, tmp_path)
    finally:
        mlflow.set_tracking_uri(before)


def _write_source(uri: str, tmp_path: Path) -> Source:
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    artifacts = (tmp_path / "mlflow" / "artifacts").as_uri()
    experiment = client.create_experiment("models", artifact_location=artifacts)
    run = client.create_run(experiment, run_name="train", start_time=1_700_000_000_000).info.run_id
    client.log_inputs(
        run,
        datasets=[
            DatasetInput(
                Dataset(
                    name="transactions",
                    digest="d41d8cd9",
                    source_type="local",
                    source='{"uri": "/data/tx.parquet"}',
                    schema='{"mlflow_colspec": [{"type": "double", "name": "amount"}]}',
                    profile='{"num_rows": 3}',
                ),
                tags=[InputTag("mlflow.data.context", "training")],
            ),
            DatasetInput(Dataset(name="bad/name", digest="x", source_type="local", source="")),
        ],
    )
    client.log_metric(run, "acc", 0.9, timestamp=1_700_000_001_000, step=0)
    model = client.create_logged_model(
        experiment,
        name="clf",
        source_run_id=run,
        params={"C": "1.0"},
        tags={"team": "risk"},
        model_type="classifier",
    )
    client.log_model_artifacts(model.model_id, str(_files(tmp_path / "model-files")))
    client.finalize_logged_model(model.model_id, "READY")
    client.log_batch(
        run,
        metrics=[
            Metric("acc", 0.9, 1_700_000_001_000, 0, model_id=model.model_id),
            Metric(
                "f1",
                math.inf,
                1_700_000_002_000,
                1,
                model_id=model.model_id,
                dataset_name="holdout",
                dataset_digest="abc",
            ),
        ],
    )
    client.set_terminated(run, "FINISHED", end_time=1_700_000_003_000)
    pending = client.create_logged_model(experiment, name="wip")
    client.create_registered_model("clf")
    client.create_model_version(
        "clf", source=f"models:/{model.model_id}", run_id=run, model_id=model.model_id
    )
    return Source(uri, client, experiment, run, model.model_id, pending.model_id, tmp_path)


def _check(context: Context, source: Source) -> None:
    project = context.settings.project
    db = context.db
    summary = import_mlflow(context, source.uri)
    assert (summary.runs_imported, summary.dataset_inputs) == (1, 1)
    assert any("bad/name" in item for item in summary.skipped)
    assert (summary.logged_models_imported, summary.logged_models_skipped) == (2, 0)
    assert (summary.logged_model_files, summary.logged_model_bytes) == (
        2,
        len(MLMODEL) + len(WEIGHTS),
    )
    assert summary.logged_model_metrics == 2
    run_id = summary.run_ids[source.run]

    run = db.read(_runs.get_run, project, run_id)
    assert run.inputs == (
        KilnDatasetInput(
            name="transactions",
            digest="d41d8cd9",
            source_type="local",
            source='{"uri": "/data/tx.parquet"}',
            schema='{"mlflow_colspec": [{"type": "double", "name": "amount"}]}',
            profile='{"num_rows": 3}',
            context="training",
        ),
    )
    # The linked point was logged to the run once (MLflow keeps one copy).
    assert [m.value for m in db.read(_runs.get_metric_history, project, run_id, "acc")] == [0.9]

    kiln_id = summary.logged_model_ids[source.model]
    assert kiln_id != source.model
    model = db.read(_logged_models.get_logged_model, project, kiln_id)
    assert (model.name, model.model_type, model.status, model.source_run_id) == (
        "clf",
        "classifier",
        "READY",
        run_id,
    )
    assert model.params == {"C": "1.0"}
    assert model.tags["team"] == "risk"
    assert model.tags["kiln.import.model_id"] == source.model
    assert model.experiment_id == run.experiment_id
    created = source.client.get_logged_model(source.model).creation_timestamp
    assert int(model.created_at.timestamp() * 1000) == created
    files = {f.path: f for f in db.read(_logged_models.list_model_artifacts, project, kiln_id)}
    assert set(files) == {"MLmodel", "data/weights.bin"}
    assert context.artifacts.read_bytes(files["data/weights.bin"].digest) == WEIGHTS
    points = {m.key: m for m in model.metrics}
    assert (points["acc"].value, points["acc"].run_id) == (0.9, run_id)
    assert (points["f1"].value, points["f1"].dataset_name, points["f1"].dataset_digest) == (
        math.inf,
        "holdout",
        "abc",
    )
    wip = db.read(
        _logged_models.get_logged_model, project, summary.logged_model_ids[source.pending]
    )
    assert (wip.name, wip.status, wip.source_run_id) == ("wip", "PENDING", None)

    (version,) = db.read(_versions.list_model_versions, project, "clf")
    assert (version.source, version.run_id) == (f"models:/{kiln_id}", run_id)

    # Again: nothing new (the pending model is still pending in MLflow).
    again = import_mlflow(context, source.uri)
    assert again.nothing_new
    assert (again.logged_models_skipped, again.logged_model_metrics) == (2, 0)
    assert again.dataset_inputs == 0
    experiment = run.experiment_id
    assert len(db.read(_logged_models.search_logged_models, project, [experiment])) == 2

    # MLflow finishes the pending model: the next import completes it in Kiln.
    source.client.log_model_artifacts(source.pending, str(_files(source.folder / "wip-files")))
    source.client.finalize_logged_model(source.pending, "READY")
    third = import_mlflow(context, source.uri)
    assert (third.logged_models_updated, third.logged_models_imported) == (1, 0)
    done = db.read(
        _logged_models.get_logged_model, project, summary.logged_model_ids[source.pending]
    )
    assert done.status == "READY"
    assert len(db.read(_logged_models.list_model_artifacts, project, done.id)) == 2
    assert import_mlflow(context, source.uri).nothing_new
    runs, _ = db.read(_search.search_runs, project, [experiment], max_results=10)
    assert len(runs) == 1


def test_logged_models_and_inputs(context: Context, source: Source) -> None:
    _check(context, source)


def test_dry_run_counts_logged_models(
    source: Source, make_context: Callable[..., Context], sqlite_url: str
) -> None:
    context = make_context(database_url=sqlite_url)
    dry = import_mlflow(context, source.uri, dry_run=True)
    assert (dry.logged_models_imported, dry.logged_model_files) == (2, 0)
    assert context.db.read(_logged_models.search_logged_models, "default", []) == []
    only = import_mlflow(context, source.uri, experiments=["Default"])
    assert (only.runs_imported, only.logged_models_imported) == (0, 0)


def test_a_source_without_logged_models_is_noted_not_fatal() -> None:
    """An MLflow 2 server has no ``logged-models/search``: the import goes on without them."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ENDPOINT_NOT_FOUND, INTERNAL_ERROR

    from kiln.migration._mlflow_common import ImportSummary
    from kiln.migration._mlflow_models import _source_models

    class OldServer:
        def __init__(self, code: int) -> None:
            self.code = code

        def search_logged_models(self, **_: Any) -> Any:
            raise MlflowException("failed with error code 404 != 200", error_code=self.code)

    summary = ImportSummary(source="http://old")
    assert _source_models(OldServer(ENDPOINT_NOT_FOUND), "1", summary) == []
    assert summary.skipped == ["experiment 1: logged models (the source has none: MLflow < 3)"]
    with pytest.raises(MlflowException):
        _source_models(OldServer(INTERNAL_ERROR), "1", summary)
