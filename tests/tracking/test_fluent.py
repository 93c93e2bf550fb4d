"""The tracking SDK end to end, embedded and remote."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import kiln
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking import RunStatus


def test_run_context_manager_logs_and_finishes(sdk: Context) -> None:
    with kiln.start_run(run_name="baseline", tags={"team": "fraud"}) as run:
        kiln.log_param("lr", 0.1)
        kiln.log_params({"depth": 3, "model": "xgb"})
        for step in range(100):
            kiln.log_metric("loss", 1 / (step + 1), step=step)
        kiln.log_metrics({"auc": 0.91, "nan": math.nan, "inf": math.inf}, step=1)
        kiln.set_tag("stage", "dev")
    stored = kiln.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.name == "baseline"
    assert stored.params == {"lr": "0.1", "depth": "3", "model": "xgb"}
    assert stored.metrics["loss"].value == pytest.approx(0.01)
    assert math.isnan(stored.metrics["nan"].value)
    assert stored.metrics["inf"].value == math.inf
    assert stored.tags["team"] == "fraud"
    assert stored.tags["stage"] == "dev"
    assert stored.tags["kiln.python.version"]
    history = kiln.get_metric_history(run.id, "loss")
    assert [m.step for m in history] == list(range(100))


def test_exception_marks_the_run_failed_with_traceback(sdk: Context) -> None:
    started: list[kiln.tracking.ActiveRun] = []

    def train() -> None:
        with kiln.start_run() as run:
            started.append(run)
            kiln.log_metric("before", 1.0)
            _ = 1 / 0

    with pytest.raises(ZeroDivisionError):
        train()
    (run,) = started
    stored = kiln.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.failure is not None
    assert "ZeroDivisionError" in stored.failure
    assert stored.metrics["before"].value == 1.0  # flushed before failing


def test_nested_runs(sdk: Context) -> None:
    with kiln.start_run(run_name="parent") as parent:
        with pytest.raises(Conflict, match="nested=True"):
            kiln.start_run()
        with kiln.start_run(run_name="child", nested=True) as child:
            assert kiln.active_run() is child
            kiln.log_metric("x", 1.0)
        assert kiln.active_run() is parent
    assert kiln.get_run(child.id).parent_run_id == parent.id
    assert kiln.active_run() is None


def test_params_cannot_change(sdk: Context) -> None:
    with kiln.start_run() as run:
        kiln.log_param("lr", 0.1)
        kiln.log_param("lr", 0.1)
        with pytest.raises(Conflict, match="cannot change"):
            kiln.log_param("lr", 0.2)
    assert kiln.get_run(run.id).params == {"lr": "0.1"}


def test_logging_needs_an_active_run_and_valid_input(sdk: Context) -> None:
    with pytest.raises(Conflict, match="no active run"):
        kiln.log_metric("x", 1.0)
    with kiln.start_run():
        with pytest.raises(InvalidInput, match="non-numeric"):
            kiln.log_metric("x", "high")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput) as caught:
            kiln.log_metric("../x", 1.0)
        assert caught.value.field == "key"


def test_logging_to_a_finished_run_is_refused(sdk: Context) -> None:
    with kiln.start_run() as run:
        pass
    kiln.log_metric("late", 1.0, run_id=run.id)
    with pytest.raises(Conflict, match="FINISHED"):
        kiln.flush(run.id)


def test_resume_a_run(sdk: Context) -> None:
    with kiln.start_run() as run:
        kiln.log_metric("epoch", 1.0, step=1)
    with kiln.start_run(run.id):
        kiln.log_metric("epoch", 2.0, step=2)
    resumed = kiln.get_run(run.id)
    assert resumed.status is RunStatus.FINISHED
    assert resumed.metrics["epoch"].value == 2.0


def test_artifacts_of_every_kind(sdk: Context, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = tmp_path / "outputs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("A")
    (folder / "sub" / "b.txt").write_text("B")
    figure, axes = plt.subplots()
    axes.plot([1, 2, 3])
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    with kiln.start_run() as run:
        kiln.log_artifact(folder / "a.txt")
        kiln.log_artifact(folder / "a.txt", "copies")
        kiln.log_artifacts(folder, "tree")
        kiln.log_dict({"lr": 0.1}, "config/params.json")
        kiln.log_dict({"lr": 0.1}, "config/params.yaml")
        kiln.log_text("hello", "notes.txt")
        kiln.log_figure(figure, "plots/curve.png")
        kiln.log_table(frame, "tables/sample.parquet")
        with pytest.raises(InvalidInput):
            kiln.log_text("x", "../escape.txt")
    plt.close(figure)
    paths = {a.path for a in kiln.list_artifacts(run.id)}
    assert {
        "a.txt",
        "copies/a.txt",
        "tree/a.txt",
        "tree/sub/b.txt",
        "config/params.json",
        "config/params.yaml",
        "notes.txt",
        "plots/curve.png",
        "tables/sample.parquet",
        "environment/requirements.txt",
    } <= paths
    local = kiln.download_artifacts(run.id, "config", tmp_path / "down")
    assert json.loads((local / "params.json").read_text()) == {"lr": 0.1}
    table = kiln.download_artifacts(run.id, "tables/sample.parquet", tmp_path / "t")
    pd.testing.assert_frame_equal(pd.read_parquet(table), frame)
    png = kiln.download_artifacts(run.id, "plots/curve.png", tmp_path / "p")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(NotFound):
        kiln.download_artifacts(run.id, "missing", tmp_path / "m")


def test_dataset_inputs(sdk: Context) -> None:
    frame = pd.DataFrame({"amount": [1.0, 2.0], "label": [0, 1]})
    with kiln.start_run() as run:
        first = kiln.log_input(frame, name="transactions", context="training")
        again = kiln.tracking.dataset_input(frame.copy(), name="transactions")
        changed = kiln.tracking.dataset_input(frame.assign(amount=[1.0, 3.0]), name="t")
    assert first.digest == again.digest
    assert changed.digest != first.digest
    (stored,) = kiln.get_run(run.id).inputs
    assert (stored.name, stored.context) == ("transactions", "training")
    assert json.loads(stored.schema)[0] == {"name": "amount", "type": "double"}
    assert json.loads(stored.profile) == {"rows": 2, "columns": 2}


def test_system_metrics_are_sampled(sdk: Context) -> None:
    with kiln.start_run(log_system_metrics=True, system_metrics_interval=0.05) as run:
        import time

        time.sleep(0.2)
    metrics = kiln.get_run(run.id).metrics
    assert "system/cpu_utilization_percentage" in metrics
    assert metrics["system/memory_usage_megabytes"].value > 0
    assert len(kiln.get_metric_history(run.id, "system/process_memory_rss_megabytes")) >= 2


def test_experiments(sdk: Context) -> None:
    experiment = kiln.set_experiment("churn")
    with kiln.start_run() as run:
        pass
    assert kiln.get_run(run.id).experiment_id == experiment.id
    with kiln.start_run(experiment="other") as other:
        pass
    assert kiln.get_run(other.id).experiment_id != experiment.id


def test_histories_of_several_runs(sdk: Context) -> None:
    ids = []
    for scale in (1, 2):
        with kiln.start_run() as run:
            for step in range(5):
                kiln.log_metric("m", scale * step, step=step)
        ids.append(run.id)
    histories = kiln.get_metric_histories(ids, ["m"])
    assert [m.value for m in histories[ids[1]]["m"]] == [0, 2, 4, 6, 8]


def test_a_param_clash_found_at_the_end_keeps_the_metrics(sdk: Context) -> None:
    started: list[kiln.tracking.ActiveRun] = []

    def train() -> None:
        with kiln.start_run() as run:
            started.append(run)
            kiln.log_param("lr", 0.1)
            kiln.flush()
            run._params.pop("lr")  # as if another process had logged it
            kiln.log_metric("kept", 1.0)
            kiln.log_param("lr", 0.2)

    with pytest.raises(Conflict, match="cannot change"):
        train()
    stored = kiln.get_run(started[0].id)
    assert stored.metrics["kept"].value == 1.0
    assert stored.params == {"lr": "0.1"}
    assert stored.status is RunStatus.FINISHED


def test_a_refused_params_batch_remembers_none_of_it(sdk: Context) -> None:
    with kiln.start_run() as run:
        kiln.log_param("b", 1)
        with pytest.raises(Conflict):
            kiln.log_params({"a": 1, "b": 2})
        kiln.log_param("a", 1)  # not lost: the refused batch recorded nothing
    assert kiln.get_run(run.id).params == {"a": "1", "b": "1"}
