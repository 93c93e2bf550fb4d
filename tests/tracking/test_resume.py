"""Resuming runs: by name (``resume=True``), by ``KILN_RUN_ID``; children of a given parent."""

from __future__ import annotations

import pytest

import kiln
from kiln.context import Context
from kiln.errors import Conflict, InvalidInput
from kiln.tracking import RunStatus, _fluent, activate_run


@pytest.mark.parametrize("name", ["plain", "it's", 'say "hi"', "both ' and \""])
def test_resume_by_name_takes_the_newest_unfinished_run(sdk: Context, name: str) -> None:
    finished = kiln.start_run(run_name=name)
    finished.end()
    broken = kiln.start_run(run_name=name)
    broken.end(RunStatus.FAILED, "crashed")

    again = kiln.start_run(run_name=name, resume=True)
    assert again.id == broken.id
    assert kiln.get_run(again.id).status is RunStatus.RUNNING
    again.end()
    fresh = kiln.start_run(run_name=name, resume=True)  # every run of the name finished
    assert fresh.id not in (finished.id, broken.id)
    fresh.end()


def test_resume_needs_a_name_and_no_active_run(sdk: Context) -> None:
    with pytest.raises(InvalidInput) as caught:
        kiln.start_run(resume=True)
    assert caught.value.field == "run_name"
    with kiln.start_run(run_name="outer"), pytest.raises(Conflict, match="already active"):
        kiln.start_run(run_name="outer", resume=True)


def test_kiln_run_id_hands_a_run_to_code_that_starts_one(
    sdk: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = kiln.start_run(run_name="job")
    handed.end(RunStatus.KILLED)
    monkeypatch.setenv("KILN_RUN_ID", handed.id)

    with kiln.start_run() as run:
        assert run.id == handed.id
        kiln.log_metric("loss", 0.5)
        with kiln.start_run(nested=True) as child:  # nested runs are new ones
            assert child.id != handed.id
    assert kiln.get_run(handed.id).metrics["loss"].value == 0.5
    assert kiln.get_run(child.id).parent_run_id == handed.id


def test_parent_run_id_starts_a_child_in_the_parents_experiment(sdk: Context) -> None:
    parent = kiln.start_run(experiment="studies", run_name="study")
    parent.end()
    with kiln.start_run(parent_run_id=parent.id, run_name="best") as child:
        pass
    stored = kiln.get_run(child.id)
    assert stored.parent_run_id == parent.id
    assert stored.experiment_id == parent.experiment_id
    assert kiln.active_run() is None


def test_activate_run_makes_a_running_run_active_without_reading_it(sdk: Context) -> None:
    tracking = _fluent.backend()
    experiment = tracking.ensure_experiment("made-elsewhere")
    entity = tracking.create_run(experiment.id, name="trial", parent_run_id=None, tags={})
    active = activate_run(entity)
    assert kiln.active_run() is active
    kiln.log_metric("x", 1.0)
    active.end()
    assert kiln.get_run(entity.id).metrics["x"].value == 1.0
    with pytest.raises(Conflict, match="FINISHED"):
        activate_run(kiln.get_run(entity.id))
