"""Experiment and run services on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import pytest

from kiln.db import Database
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from kiln.tracking import _artifacts, _experiments, _inputs, _runs
from kiln.tracking._entities import DatasetInput, LifecycleStage, Metric, Param, RunStatus


def _run(db: Database, name: str = "r", **kwargs: object) -> str:
    experiment = db.run(_experiments.ensure_experiment, "default", "exp")
    return db.run(_runs.create_run, "default", experiment.id, name=name, **kwargs).id


class TestExperiments:
    def test_create_get_list_rename_delete_restore(self, db: Database) -> None:
        created = db.run(
            _experiments.create_experiment, "default", "fraud", description="d", tags={"t": "1"}
        )
        assert (created.name, created.description, created.tags) == ("fraud", "d", {"t": "1"})
        assert db.read(_experiments.get_experiment, "default", created.id) == created
        assert db.read(_experiments.get_experiment_by_name, "default", "fraud").id == created.id
        renamed = db.run(_experiments.update_experiment, "default", created.id, name="fraud-2")
        assert renamed.name == "fraud-2"
        db.run(_experiments.set_experiment_lifecycle, "default", created.id, LifecycleStage.DELETED)
        assert db.read(_experiments.list_experiments, "default") == []
        assert len(db.read(_experiments.list_experiments, "default", include_deleted=True)) == 1
        with pytest.raises(Conflict, match="deleted"):
            db.run(_experiments.ensure_experiment, "default", "fraud-2")
        db.run(_experiments.set_experiment_lifecycle, "default", created.id, LifecycleStage.ACTIVE)
        assert [e.name for e in db.read(_experiments.list_experiments, "default")] == ["fraud-2"]

    def test_names_and_duplicates(self, db: Database) -> None:
        db.run(_experiments.create_experiment, "default", "a")
        with pytest.raises(AlreadyExists):
            db.run(_experiments.create_experiment, "default", "a")
        for bad in ("", " ", "a/b", "..", "x" * 300, "tab\there"):
            with pytest.raises(InvalidInput):
                db.run(_experiments.create_experiment, "default", bad)
        with pytest.raises(NotFound):
            db.read(_experiments.get_experiment, "default", "999")
        with pytest.raises(InvalidInput, match="not a number"):
            db.read(_experiments.get_experiment, "default", "abc")

    def test_tags(self, db: Database) -> None:
        exp = db.run(_experiments.create_experiment, "default", "a")
        db.run(_experiments.set_experiment_tag, "default", exp.id, "owner", "ada")
        db.run(_experiments.set_experiment_tag, "default", exp.id, "owner", "eve")
        assert db.read(_experiments.get_experiment, "default", exp.id).tags == {"owner": "eve"}
        db.run(_experiments.delete_experiment_tag, "default", exp.id, "owner")
        with pytest.raises(NotFound):
            db.run(_experiments.delete_experiment_tag, "default", exp.id, "owner")

    def test_projects_are_isolated(self, db: Database) -> None:
        from kiln import auth

        db.run(auth.create_project, "other")
        exp = db.run(_experiments.create_experiment, "other", "secret")
        with pytest.raises(NotFound):
            db.read(_experiments.get_experiment, "default", exp.id)
        run_id = db.run(_runs.create_run, "other", exp.id).id
        with pytest.raises(NotFound):
            db.read(_runs.get_run, "default", run_id)


class TestRuns:
    def test_lifecycle(self, db: Database) -> None:
        run_id = _run(db, tags={"team": "fraud"})
        run = db.read(_runs.get_run, "default", run_id)
        assert (run.status, run.end_time, run.tags) == (RunStatus.RUNNING, None, {"team": "fraud"})
        ended = db.run(_runs.update_run, "default", run_id, status="FINISHED")
        assert ended.status is RunStatus.FINISHED
        assert ended.end_time is not None
        assert ended.duration_ms is not None
        assert ended.duration_ms >= 0
        with pytest.raises(InvalidInput, match="status"):
            db.run(_runs.update_run, "default", run_id, status="DONE")
        deleted = db.run(_runs.set_run_lifecycle, "default", run_id, LifecycleStage.DELETED)
        assert deleted.lifecycle_stage is LifecycleStage.DELETED
        db.run(_runs.purge_run, "default", run_id)
        with pytest.raises(NotFound):
            db.read(_runs.get_run, "default", run_id)

    def test_nested_runs_and_random_names(self, db: Database) -> None:
        parent = _run(db)
        child = db.run(
            _runs.create_run,
            "default",
            db.read(_runs.get_run, "default", parent).experiment_id,
            parent_run_id=parent,
        )
        assert child.parent_run_id == parent
        assert child.name.count("-") == 2
        with pytest.raises(NotFound):
            db.run(_runs.create_run, "default", child.experiment_id, parent_run_id="nope")

    def test_log_batch_metrics_params_tags(self, db: Database) -> None:
        run_id = _run(db)
        metrics = [Metric("loss", 1.0 / (i + 1), i, 1000 + i) for i in range(50)]
        metrics += [
            Metric("odd", math.nan, 0, 1),
            Metric("odd", math.inf, 1, 2),
            Metric("neg", -math.inf, 0, 3),
        ]
        db.run(
            _runs.log_batch,
            "default",
            run_id,
            metrics=metrics,
            params=[Param("lr", "0.1"), ("depth", "3")],
            tags=[("a", "1")],
        )
        run = db.read(_runs.get_run, "default", run_id)
        assert run.params == {"lr": "0.1", "depth": "3"}
        assert run.metrics["loss"] == Metric("loss", 1 / 50, 49, 1049)
        assert run.metrics["odd"].value == math.inf
        assert run.metrics["neg"].value == -math.inf
        history = db.read(_runs.get_metric_history, "default", run_id, "odd")
        assert math.isnan(history[0].value)
        assert history[1].value == math.inf
        assert len(db.read(_runs.get_metric_history, "default", run_id, "loss")) == 50

    def test_latest_metric_is_highest_step_then_newest(self, db: Database) -> None:
        run_id = _run(db)
        db.run(_runs.log_batch, "default", run_id, metrics=[Metric("m", 5.0, 10, 100)])
        db.run(_runs.log_batch, "default", run_id, metrics=[Metric("m", 1.0, 3, 999)])
        assert db.read(_runs.get_run, "default", run_id).metrics["m"].value == 5.0
        db.run(_runs.log_batch, "default", run_id, metrics=[Metric("m", 7.0, 10, 101)])
        assert db.read(_runs.get_run, "default", run_id).metrics["m"].value == 7.0

    def test_params_are_immutable(self, db: Database) -> None:
        run_id = _run(db)
        db.run(_runs.log_batch, "default", run_id, params=[Param("lr", "0.1")])
        db.run(_runs.log_batch, "default", run_id, params=[Param("lr", "0.1")])  # same: fine
        with pytest.raises(Conflict, match="params cannot change"):
            db.run(_runs.log_batch, "default", run_id, params=[Param("lr", "0.2")])
        with pytest.raises(Conflict, match="twice"):
            db.run(_runs.log_batch, "default", run_id, params=[Param("x", "1"), Param("x", "2")])
        assert db.read(_runs.get_run, "default", run_id).params == {"lr": "0.1"}

    def test_tags_are_mutable_and_deletable(self, db: Database) -> None:
        run_id = _run(db)
        db.run(_runs.log_batch, "default", run_id, tags=[("k", "1")])
        db.run(_runs.log_batch, "default", run_id, tags=[("k", "2")])
        assert db.read(_runs.get_run, "default", run_id).tags["k"] == "2"
        db.run(_runs.delete_tag, "default", run_id, "k")
        assert "k" not in db.read(_runs.get_run, "default", run_id).tags

    def test_finished_and_deleted_runs_take_no_data(self, db: Database) -> None:
        run_id = _run(db)
        db.run(_runs.update_run, "default", run_id, status=RunStatus.FINISHED)
        with pytest.raises(Conflict, match="FINISHED"):
            db.run(_runs.log_batch, "default", run_id, metrics=[Metric("m", 1.0, 0, 1)])
        other = _run(db, name="other")
        db.run(_runs.set_run_lifecycle, "default", other, LifecycleStage.DELETED)
        with pytest.raises(Conflict, match="deleted"):
            db.run(_runs.log_batch, "default", other, params=[Param("a", "b")])

    @pytest.mark.parametrize(
        "bad_key",
        ["", "x" * 251, "a\\b", "../up", "a/../b", "/abs", "trail/", "a//b", "semi;colon"],
    )
    def test_bad_keys_name_the_field(self, db: Database, bad_key: str) -> None:
        run_id = _run(db)
        with pytest.raises(InvalidInput) as caught:
            db.run(_runs.log_batch, "default", run_id, metrics=[Metric(bad_key, 1.0, 0, 1)])
        assert caught.value.field == "metrics.key"
        with pytest.raises(InvalidInput) as caught:
            db.run(_runs.log_batch, "default", run_id, params=[Param(bad_key, "v")])
        assert caught.value.field == "params.key"

    def test_too_long_param_value(self, db: Database) -> None:
        run_id = _run(db)
        with pytest.raises(InvalidInput, match="6000"):
            db.run(_runs.log_batch, "default", run_id, params=[Param("p", "x" * 6001)])

    def test_histories_of_several_runs_in_one_call(self, db: Database) -> None:
        a, b = _run(db, "a"), _run(db, "b")
        for run_id, scale in ((a, 1.0), (b, 2.0)):
            db.run(
                _runs.log_batch,
                "default",
                run_id,
                metrics=[Metric(k, scale * i, i, i) for i in range(3) for k in ("x", "y")],
            )
        both = db.read(_runs.get_metric_histories, "default", [a, b], ["x"])
        assert [m.value for m in both[b]["x"]] == [0.0, 2.0, 4.0]
        assert set(both[a]) == {"x"}
        with pytest.raises(NotFound):
            db.read(_runs.get_metric_histories, "default", [a, "missing"])


class TestInputsAndArtifacts:
    def test_dataset_inputs(self, db: Database) -> None:
        run_id = _run(db)
        data = DatasetInput("tx", "abc123", "dataframe", "", '[{"name": "a"}]', "{}", "training")
        db.run(_inputs.log_inputs, "default", run_id, [data])
        db.run(_inputs.log_inputs, "default", run_id, [data])  # idempotent
        assert db.read(_runs.get_run, "default", run_id).inputs == (data,)
        with pytest.raises(InvalidInput, match="digest"):
            db.run(_inputs.log_inputs, "default", run_id, [DatasetInput("tx", "")])

    def test_artifact_records(self, db: Database) -> None:
        run_id = _run(db)
        db.run(_artifacts.record_artifact, "default", run_id, "model/model.json", "a" * 64, 10)
        db.run(_artifacts.record_artifact, "default", run_id, "model/extra.txt", "b" * 64, 3)
        db.run(_artifacts.record_artifact, "default", run_id, "modelx.txt", "c" * 64, 3)
        listed = db.read(_artifacts.list_artifacts, "default", run_id, "model")
        assert [a.path for a in listed] == ["model/extra.txt", "model/model.json"]
        assert len(db.read(_artifacts.list_artifacts, "default", run_id)) == 3
        with pytest.raises(InvalidInput):
            db.run(_artifacts.record_artifact, "default", run_id, "../escape", "a" * 64, 1)
        with pytest.raises(NotFound):
            db.read(_artifacts.get_artifact, "default", run_id, "nope")
