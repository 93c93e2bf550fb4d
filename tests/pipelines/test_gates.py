"""Quality gates (kiln.data.check) and resumes, on the sequential and parallel runners."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import kiln.data
from kiln.alerts import AlertStatus, list_alerts
from kiln.context import Context, using_context
from kiln.errors import Conflict
from kiln.pipelines import (
    PipelineFailed,
    PipelineStatus,
    Runner,
    StepStatus,
    get_pipeline_run,
    load_output,
    resume_pipeline,
)
from tests.pipelines import _gated


def _source(tmp_path: Path, frame: pd.DataFrame, name: str = "source.parquet") -> str:
    path = tmp_path / name
    frame.to_parquet(path)
    return str(path)


@pytest.fixture
def gated_context(context: Context) -> Context:
    with using_context(context):
        kiln.data.register_dataset(_gated.REFERENCE, "ref")
    return context


def test_good_data_passes_the_gate_unchanged(
    gated_context: Context, tmp_path: Path, runner: Runner
) -> None:
    source = _source(tmp_path, _gated.REFERENCE.iloc[::-1].reset_index(drop=True))
    run = _gated.gated.run({"source": source}, context=gated_context, runner=runner)

    assert run.status is PipelineStatus.SUCCEEDED
    gate = run.step("check")
    assert gate.status is StepStatus.SUCCEEDED
    # The gate's output is its input, passed through: the same stored value.
    assert gate.outputs == run.step("ingest").outputs
    assert load_output(run.id, "count", context=gated_context) == 200
    assert "passed" in gate.stdout.lower()
    assert gated_context.db.read(list_alerts, "default") == []


def test_bad_data_pauses_the_run_with_an_alert_and_independent_branches_finish(
    gated_context: Context, tmp_path: Path, runner: Runner
) -> None:
    source = _source(tmp_path, _gated.drifted())
    run = _gated.gated.run({"source": source}, context=gated_context, runner=runner)

    assert run.status is PipelineStatus.PAUSED
    assert run.step("check").status is StepStatus.PAUSED
    assert run.step("side_branch").status is StepStatus.SUCCEEDED
    assert run.step("features").status is StepStatus.PENDING
    assert run.step("count").status is StepStatus.PENDING
    assert run.error is not None
    assert "kiln pipelines resume" in run.error
    [alert] = gated_context.db.read(list_alerts, "default")
    assert alert.status is AlertStatus.OPEN
    assert alert.kind == "data_validation"
    assert alert.subject_kind == "step_run"
    assert alert.subject_id == f"{run.id}/check"
    failed = {(check["name"], check["column"]) for check in alert.details["failures"]}
    assert ("range", "amount") in failed
    assert ("categories", "kind") in failed
    assert all("observed" in check and "threshold" in check for check in alert.details["failures"])
    assert alert.report_digest is not None
    page = gated_context.artifacts.read_bytes(alert.report_digest).decode()
    assert "<html" in page.lower()
    assert "amount" in page


def test_on_failure_fail_fails_the_run_and_still_raises_an_alert(
    gated_context: Context, tmp_path: Path
) -> None:
    source = _source(tmp_path, _gated.drifted())
    with pytest.raises(PipelineFailed) as raised:
        _gated.gated.run({"source": source, "on_failure": "fail"}, context=gated_context)

    run = raised.value.run
    assert run.status is PipelineStatus.FAILED
    assert run.step("check").status is StepStatus.FAILED
    assert "ValidationFailed" in (run.step("check").error or "")
    assert run.step("count").status is StepStatus.SKIPPED
    assert run.step("check").attempts == 1  # a verdict is not retried
    [alert] = gated_context.db.read(list_alerts, "default")
    assert alert.details["on_failure"] == "fail"


def test_resume_with_accept_lets_the_data_through(
    gated_context: Context, tmp_path: Path, runner: Runner
) -> None:
    source = _source(tmp_path, _gated.drifted(150))
    paused = _gated.gated.run({"source": source}, context=gated_context, runner=runner)
    assert paused.status is PipelineStatus.PAUSED

    resumed = resume_pipeline(paused.id, accept=True, context=gated_context, user="ana")

    assert resumed.id == paused.id
    assert resumed.status is PipelineStatus.SUCCEEDED
    assert resumed.resumes == 1
    gate = resumed.step("check")
    assert gate.status is StepStatus.SUCCEEDED
    assert "accepted by ana" in gate.stderr
    assert gate.outputs == resumed.step("ingest").outputs
    assert load_output(paused.id, "count", context=gated_context) == 150
    # What ran before the pause was not run again.
    assert resumed.step("ingest").start_time == paused.step("ingest").start_time
    [alert] = gated_context.db.read(list_alerts, "default")
    assert alert.status is AlertStatus.ACCEPTED
    assert alert.resolved_by == "ana"


def test_resume_without_accept_checks_again(gated_context: Context, tmp_path: Path) -> None:
    paused = _gated.gated.run(
        {"source": _source(tmp_path, _gated.drifted())}, context=gated_context
    )

    again = resume_pipeline(paused.id, context=gated_context)
    assert again.status is PipelineStatus.PAUSED  # same data, same verdict
    alerts = gated_context.db.read(list_alerts, "default")
    assert [a.status for a in alerts] == [AlertStatus.OPEN, AlertStatus.RESOLVED]

    # The shift is expected: a new reference version makes the check pass.
    with using_context(gated_context):
        kiln.data.register_dataset(_gated.drifted(), "ref")
    fixed = resume_pipeline(paused.id, context=gated_context)
    assert fixed.status is PipelineStatus.SUCCEEDED
    assert fixed.resumes == 2
    assert load_output(paused.id, "count", context=gated_context) == 200


def test_a_gate_over_an_in_memory_output(gated_context: Context, tmp_path: Path) -> None:
    good = _gated.gated_frame.run(
        {"source": _source(tmp_path, _gated.REFERENCE)}, context=gated_context
    )
    assert good.status is PipelineStatus.SUCCEEDED
    assert good.step("quality").outputs == good.step("frame_from").outputs

    bad = _gated.gated_frame.run(
        {"source": _source(tmp_path, _gated.drifted(), "bad.parquet")}, context=gated_context
    )
    assert bad.status is PipelineStatus.PAUSED
    resumed = resume_pipeline(bad.id, accept=True, context=gated_context)
    assert resumed.status is PipelineStatus.SUCCEEDED


def test_a_passed_gate_is_cached_like_any_step(gated_context: Context, tmp_path: Path) -> None:
    source = _source(tmp_path, _gated.REFERENCE)
    _gated.gated.run({"source": source}, context=gated_context)
    second = _gated.gated.run({"source": source}, context=gated_context)
    assert all(step.cached for step in second.steps)


def test_a_failed_run_resumes_from_the_failed_step(
    context: Context, tmp_path: Path, runner: Runner
) -> None:
    marker = tmp_path / "down"
    marker.touch()
    failed = _gated.recovering.run(
        {"marker": str(marker)}, context=context, runner=runner, raise_on_failure=False
    )
    assert failed.status is PipelineStatus.FAILED
    assert failed.step("flaky").status is StepStatus.FAILED
    assert failed.step("side_branch").status is StepStatus.SKIPPED
    assert failed.step("expensive").status is StepStatus.SUCCEEDED

    marker.unlink()
    resumed = resume_pipeline(failed.id, context=context, runner=runner)

    assert resumed.status is PipelineStatus.SUCCEEDED
    assert resumed.step("expensive").start_time == failed.step("expensive").start_time
    assert resumed.step("flaky").status is StepStatus.SUCCEEDED
    assert load_output(failed.id, "side_branch", context=context) == 8


def test_only_paused_or_failed_runs_resume(context: Context, tmp_path: Path) -> None:
    marker = tmp_path / "absent"
    done = _gated.recovering.run({"marker": str(marker)}, context=context)
    with pytest.raises(Conflict, match="only PAUSED or FAILED"):
        resume_pipeline(done.id, context=context)
    assert context.db.read(get_pipeline_run, "default", done.id).resumes == 0


def test_check_outside_a_pipeline_validates_at_once(context: Context) -> None:
    with using_context(context):
        kiln.data.register_dataset(_gated.REFERENCE, "ref")
        report = kiln.data.check(_gated.REFERENCE, reference="ref@1")
        assert report.passed
        with pytest.raises(kiln.data.ValidationFailed) as raised:
            kiln.data.check(_gated.drifted(), reference="ref@1")
    assert not raised.value.report.passed
    assert "check(s) failed" in str(raised.value)
