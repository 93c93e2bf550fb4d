"""``kiln import mlflow`` from a real MLflow SQLite store written by the ``mlflow`` package."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

mlflow = pytest.importorskip("mlflow")

from kiln.context import Context  # noqa: E402
from kiln.migration import ImportSummary, import_mlflow  # noqa: E402
from kiln.registry import _aliases, _versions  # noqa: E402
from kiln.tracking import _artifacts, _experiments, _runs, _search  # noqa: E402
from kiln.tracking._entities import RunStatus  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:::mlflow")

LOSSES = [1.0, 0.5, math.nan, 0.25, math.inf]


@dataclass
class Source:
    uri: str
    client: Any
    train: str  # the finished parent run
    child: str  # its nested run
    failed: str
    other: str  # in a second experiment


def _write_source(tmp_path: Path) -> Source:
    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    (tmp_path / "mlflow").mkdir()
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
    artifacts = (tmp_path / "mlflow" / "artifacts").as_uri()
    fraud = client.create_experiment("fraud", artifact_location=artifacts + "/fraud")
    client.set_experiment_tag(fraud, "team", "risk")
    other_exp = client.create_experiment("other", artifact_location=artifacts + "/other")

    train = client.create_run(fraud, run_name="train", start_time=1_700_000_000_000)
    run_id = train.info.run_id
    client.log_param(run_id, "lr", "0.01")
    client.log_param(run_id, "layers", "3")
    client.set_tag(run_id, "stage", "dev")
    client.set_tag(run_id, "odd:key", "colon")
    for step, loss in enumerate(LOSSES):
        client.log_metric(run_id, "loss", loss, timestamp=1_700_000_001_000 + step, step=step)
    client.log_metric(run_id, "auc", 0.9, timestamp=1_700_000_002_000, step=0)
    client.log_metric(run_id, "auc", 0.95, timestamp=1_700_000_002_000, step=1)
    files = tmp_path / "files"
    (files / "model").mkdir(parents=True)
    (files / "notes.txt").write_text("hello from mlflow")
    (files / "model" / "weights.bin").write_bytes(b"\x00\x01\x02" * 100)
    client.log_artifact(run_id, str(files / "notes.txt"))
    client.log_artifacts(run_id, str(files / "model"), artifact_path="model")

    child = client.create_run(
        fraud,
        run_name="fold-1",
        tags={"mlflow.parentRunId": run_id},
        start_time=1_700_000_000_500,
    )
    client.log_metric(child.info.run_id, "loss", 0.7, timestamp=1_700_000_003_000, step=0)
    client.set_terminated(child.info.run_id, "FINISHED", end_time=1_700_000_004_000)
    client.set_terminated(run_id, "FINISHED", end_time=1_700_000_005_000)

    failed = client.create_run(fraud, run_name="broken", start_time=1_700_000_006_000)
    client.log_param(failed.info.run_id, "lr", "10")
    client.set_terminated(failed.info.run_id, "FAILED", end_time=1_700_000_007_000)

    other = client.create_run(other_exp, run_name="baseline", start_time=1_700_000_008_000)
    client.log_metric(other.info.run_id, "acc", 0.5, timestamp=1_700_000_008_500)
    client.set_terminated(other.info.run_id, "KILLED", end_time=1_700_000_009_000)

    client.create_registered_model("fraud-model", tags={"owner": "risk"}, description="detects")
    for _ in range(2):
        client.create_model_version(
            "fraud-model", source=f"runs:/{run_id}/model", run_id=run_id, description="v"
        )
    client.set_registered_model_alias("fraud-model", "champion", "2")
    return Source(uri, client, run_id, child.info.run_id, failed.info.run_id, other.info.run_id)


@pytest.fixture
def source(tmp_path: Path) -> Source:
    return _write_source(tmp_path)


def _check_import(context: Context, source: Source) -> None:
    project = context.settings.project
    db = context.db
    summary = import_mlflow(context, source.uri)
    # fraud, other and MLflow's "Default" (as Kiln's "default", which may exist already).
    assert summary.experiments_created + summary.experiments_existing == 3
    assert (summary.runs_imported, summary.runs_skipped) == (4, 0)
    assert summary.metric_points == len(LOSSES) + 2 + 1 + 1
    assert summary.artifacts == 2
    assert (summary.models_created, summary.versions_imported, summary.aliases_set) == (1, 2, 1)
    assert summary.renamed_keys == {"odd:key": "odd_key"}
    ids = summary.run_ids

    fraud = db.read(_experiments.get_experiment_by_name, project, "fraud")
    assert fraud.tags["team"] == "risk"
    train = db.read(_runs.get_run, project, ids[source.train])
    assert train.experiment_id == fraud.id
    assert (train.name, train.status, train.start_time, train.end_time) == (
        "train",
        RunStatus.FINISHED,
        1_700_000_000_000,
        1_700_000_005_000,
    )
    assert train.params == {"lr": "0.01", "layers": "3"}
    assert train.tags["stage"] == "dev"
    assert train.tags["odd_key"] == "colon"
    assert train.tags["mlflow.source.run_id"] == source.train
    assert train.tags["mlflow.runName"] == "train"
    loss = db.read(_runs.get_metric_history, project, train.id, "loss")
    assert [(m.step, m.timestamp) for m in loss] == [
        (step, 1_700_000_001_000 + step) for step in range(len(LOSSES))
    ]
    for got, want in zip(loss, LOSSES, strict=True):
        assert got.value == want or (math.isnan(got.value) and math.isnan(want))
    auc = db.read(_runs.get_metric_history, project, train.id, "auc")
    assert [(m.value, m.step) for m in auc] == [(0.9, 0), (0.95, 1)]

    files = {a.path: a for a in db.read(_artifacts.list_artifacts, project, train.id)}
    assert set(files) == {"notes.txt", "model/weights.bin"}
    assert context.artifacts.read_bytes(files["notes.txt"].digest) == b"hello from mlflow"
    assert files["model/weights.bin"].size == 300

    child = db.read(_runs.get_run, project, ids[source.child])
    assert child.parent_run_id == train.id
    assert child.tags["mlflow.parentRunId"] == train.id
    failed = db.read(_runs.get_run, project, ids[source.failed])
    assert (failed.status, failed.end_time, failed.params) == (
        RunStatus.FAILED,
        1_700_000_007_000,
        {"lr": "10"},
    )
    other = db.read(_runs.get_run, project, ids[source.other])
    assert other.status is RunStatus.KILLED
    assert other.metrics["acc"].value == 0.5

    versions = db.read(_versions.list_model_versions, project, "fraud-model")
    assert [(v.version, v.source, v.run_id) for v in versions] == [
        (2, f"runs:/{train.id}/model", train.id),
        (1, f"runs:/{train.id}/model", train.id),
    ]
    champion = db.read(_aliases.get_version_by_alias, project, "fraud-model", "champion")
    assert champion.version == 2
    history = db.read(_aliases.alias_history, project, "fraud-model", "champion")
    assert history[0].actor == "import"

    # A second import adds nothing.
    again = import_mlflow(context, source.uri)
    assert again.nothing_new
    assert (again.runs_skipped, again.versions_skipped, again.aliases_kept) == (4, 2, 1)
    assert again.metric_points == 0
    runs, _ = db.read(_search.search_runs, project, [fraud.id], max_results=100)
    assert len(runs) == 3
    assert len(db.read(_versions.list_model_versions, project, "fraud-model")) == 2

    # Something new in MLflow: only it is added.
    fresh = source.client.create_run(fraud_id(source), run_name="new")
    source.client.log_metric(fresh.info.run_id, "loss", 0.1, step=0)
    source.client.set_terminated(fresh.info.run_id, "FINISHED")
    source.client.create_model_version(
        "fraud-model", source=f"runs:/{fresh.info.run_id}/model", run_id=fresh.info.run_id
    )
    third = import_mlflow(context, source.uri)
    assert (third.runs_imported, third.runs_skipped, third.metric_points) == (1, 4, 1)
    assert (third.versions_imported, third.versions_skipped) == (1, 2)
    assert third.experiments_created == 0
    new = db.read(_runs.get_run, project, third.run_ids[fresh.info.run_id])
    assert new.name == "new"
    runs, _ = db.read(_search.search_runs, project, [fraud.id], max_results=100)
    assert len(runs) == 4
    latest = db.read(_versions.latest_model_version, project, "fraud-model")
    assert (latest.version, latest.run_id) == (3, new.id)


def fraud_id(source: Source) -> str:
    experiment = source.client.get_experiment_by_name("fraud")
    assert experiment is not None
    return str(experiment.experiment_id)


def test_import_into_sqlite(
    source: Source, make_context: Callable[..., Context], sqlite_url: str
) -> None:
    _check_import(make_context(database_url=sqlite_url), source)


@pytest.mark.postgres
def test_import_into_postgres(
    source: Source, make_context: Callable[..., Context], postgres_url: str
) -> None:
    _check_import(make_context(database_url=postgres_url), source)


def test_experiment_filter_and_dry_run(
    source: Source, make_context: Callable[..., Context], sqlite_url: str
) -> None:
    context = make_context(database_url=sqlite_url)
    dry = import_mlflow(context, source.uri, dry_run=True)
    assert (dry.runs_imported, dry.versions_imported) == (4, 2)
    assert dry.experiments_created + dry.experiments_existing == 3
    assert dry.aliases_set == 1
    written = {e.name for e in context.db.read(_experiments.list_experiments, "default")}
    assert not written & {"fraud", "other"}
    summary: ImportSummary = import_mlflow(context, source.uri, experiments=["other"])
    assert (summary.experiments_created, summary.runs_imported) == (1, 1)
    assert summary.experiments_existing == 0
    assert (summary.models_created, summary.versions_imported) == (0, 0)
    names = {e.name for e in context.db.read(_experiments.list_experiments, "default")}
    assert "other" in names
    assert "fraud" not in names


def test_unknown_experiment_is_refused(
    source: Source, make_context: Callable[..., Context], sqlite_url: str
) -> None:
    from kiln.errors import NotFound

    with pytest.raises(NotFound, match="nope"):
        import_mlflow(make_context(database_url=sqlite_url), source.uri, experiments=["nope"])


def test_a_running_run_is_completed_on_the_next_import(
    tmp_path: Path, make_context: Callable[..., Context], sqlite_url: str
) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("live", artifact_location=(tmp_path / "a").as_uri())
    run = client.create_run(experiment, run_name="still-going")
    client.log_metric(run.info.run_id, "loss", 1.0, step=0, timestamp=1)
    context = make_context(database_url=sqlite_url)
    first = import_mlflow(context, uri)
    kiln_id = first.run_ids[run.info.run_id]
    assert context.db.read(_runs.get_run, "default", kiln_id).status is RunStatus.RUNNING

    client.log_metric(run.info.run_id, "loss", 0.5, step=1, timestamp=2)
    client.log_param(run.info.run_id, "seed", "7")
    client.set_terminated(run.info.run_id, "FINISHED", end_time=3)
    second = import_mlflow(context, uri)
    assert (second.runs_imported, second.runs_updated, second.metric_points) == (0, 1, 1)
    done = context.db.read(_runs.get_run, "default", kiln_id)
    assert (done.status, done.end_time, done.params) == (RunStatus.FINISHED, 3, {"seed": "7"})
    history = context.db.read(_runs.get_metric_history, "default", kiln_id, "loss")
    assert [(m.value, m.step) for m in history] == [(1.0, 0), (0.5, 1)]
    assert import_mlflow(context, uri).runs_skipped == 1


def test_cli(source: Source, tmp_path: Path) -> None:
    kiln = Path(sys.executable).parent / "kiln"
    env = {**os.environ, "KILN_HOME": str(tmp_path / "cli-home")}
    command = [str(kiln), "import", "mlflow", "--from", source.uri]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert first.returncode == 0, first.stderr
    assert "runs imported" in first.stdout
    assert "4" in first.stdout
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert second.returncode == 0, second.stderr
    assert "nothing new" in second.stdout.lower()
    missing = subprocess.run(
        [*command, "--experiments", "nope"], env=env, capture_output=True, text=True, timeout=240
    )
    assert missing.returncode == 3
    assert "nope" in missing.stderr


def test_import_from_a_file_store(
    tmp_path: Path,
    make_context: Callable[..., Context],
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("team/exp")
    run = client.create_run(experiment, run_name="r1")
    client.log_metric(run.info.run_id, "m", 1.0, step=0, timestamp=10)
    client.log_metric(run.info.run_id, "m", 2.0, step=1, timestamp=20)
    client.set_terminated(run.info.run_id, "FINISHED")
    context = make_context(database_url=sqlite_url)
    summary = import_mlflow(context, uri)
    assert (summary.runs_imported, summary.metric_points) == (1, 2)
    kiln_id = summary.run_ids[run.info.run_id]
    assert context.db.read(_runs.get_run, "default", kiln_id).experiment_id == (
        context.db.read(_experiments.get_experiment_by_name, "default", "team-exp").id
    )
