"""Pipeline records on SQLite and PostgreSQL: what a run stores and the services that read it."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from kiln.context import Context
from kiln.db.tables import PipelineRunRow, StepCacheRow, StepRunRow
from kiln.errors import InvalidInput, NotFound
from kiln.pipelines import (
    PipelineFailed,
    PipelineStatus,
    StepStatus,
    get_pipeline_run,
    get_step_run,
    list_pipeline_runs,
    load_output,
)
from tests.pipelines import _steps


def test_a_run_records_every_step(context: Context) -> None:
    run = _steps.linear.run({"rows": 3}, context=context)

    stored = context.db.read(get_pipeline_run, "default", run.id)
    assert stored == run
    assert stored.pipeline == "linear"
    assert stored.project == "default"
    assert stored.status is PipelineStatus.SUCCEEDED
    assert stored.runner == "sequential"
    assert stored.params == {"rows": 3, "scale": 1.0}
    assert stored.end_time is not None
    assert stored.duration_seconds is not None
    assert stored.duration_seconds >= 0
    assert stored.error is None
    make_frame = stored.step("make_frame")
    assert make_frame.position == 0
    assert make_frame.step == "make_frame"
    assert make_frame.status is StepStatus.SUCCEEDED
    assert make_frame.attempts == 1
    assert make_frame.cache_key is not None
    assert len(make_frame.cache_key) == 64
    assert make_frame.params == {"rows": 3, "scale": 1.0}
    assert make_frame.upstream == ()
    assert make_frame.resources == {"cpu": 1.0, "gpu": 0.0, "memory": None}
    assert make_frame.cpu_seconds is not None
    assert make_frame.peak_memory_bytes is not None
    assert make_frame.peak_memory_bytes > 0
    assert make_frame.duration_seconds is not None
    assert make_frame.error is None
    assert make_frame.traceback is None
    (output,) = make_frame.outputs
    assert output.materializer == "pandas"
    assert context.artifacts.exists(output.digest)
    add_one = stored.step("add_one")
    assert add_one.inputs == {"frame": output.digest}
    assert context.db.read(get_step_run, "default", run.id, "add_one") == add_one


def test_the_cache_table_maps_keys_to_outputs(context: Context) -> None:
    run = _steps.linear.run(context=context)
    cached = _steps.linear.run(context=context)

    entries = context.db.read(
        lambda s: {row.key: (row.step, row.step_run_id) for row in s.scalars(select(StepCacheRow))}
    )
    assert {step.cache_key for step in run.steps} == set(entries)
    assert {entries[step.cache_key][1] for step in run.steps} == {step.id for step in run.steps}
    hit = cached.step("total")
    assert hit.cached
    assert hit.status is StepStatus.SUCCEEDED
    assert hit.duration_seconds == 0.0
    assert hit.outputs == run.step("total").outputs
    # Deleting the producing run keeps the cache entries, unlinked.
    context.db.run(lambda s: s.execute(delete(PipelineRunRow).where(PipelineRunRow.id == run.id)))
    assert context.db.read(lambda s: s.scalars(select(StepRunRow.run_id)).all()) == [cached.id] * 5
    links = context.db.read(lambda s: set(s.scalars(select(StepCacheRow.step_run_id))))
    assert links == {None}
    assert all(step.cached for step in _steps.linear.run(context=context).steps)


def test_a_failed_run_records_errors(context: Context) -> None:
    with pytest.raises(PipelineFailed) as caught:
        _steps.failing.run(context=context)

    stored = context.db.read(get_pipeline_run, "default", caught.value.run.id)
    assert stored.status is PipelineStatus.FAILED
    assert stored.error == "step 'boom': ValueError: boom"
    boom = stored.step("boom")
    assert boom.traceback is not None
    assert "Traceback (most recent call last)" in boom.traceback
    assert boom.outputs == ()
    skipped = stored.step("double")
    assert skipped.status is StepStatus.SKIPPED
    assert skipped.start_time is None
    with pytest.raises(NotFound, match="no output: it is SKIPPED"):
        load_output(stored.id, "double", context=context)


def test_runs_are_listed_newest_first_and_filtered(context: Context) -> None:
    first = _steps.linear.run(context=context)
    failed = _steps.failing.run(context=context, raise_on_failure=False)
    last = _steps.fan.run(context=context)

    runs = context.db.read(list_pipeline_runs, "default")
    assert [run.id for run in runs] == [last.id, failed.id, first.id]
    assert all(run.steps == () for run in runs)
    by_name = context.db.read(list_pipeline_runs, "default", pipeline="linear")
    assert [run.id for run in by_name] == [first.id]
    by_status = context.db.read(list_pipeline_runs, "default", status="FAILED")
    assert [run.id for run in by_status] == [failed.id]
    assert [r.id for r in context.db.read(list_pipeline_runs, "default", limit=1)] == [last.id]


def test_reading_refuses_bad_and_unknown_names(context: Context) -> None:
    run = _steps.fan.run(context=context)

    with pytest.raises(InvalidInput, match="unknown pipeline run status 'DONE'"):
        context.db.read(list_pipeline_runs, "default", status="DONE")
    with pytest.raises(InvalidInput, match="limit"):
        context.db.read(list_pipeline_runs, "default", limit=0)
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        context.db.read(list_pipeline_runs, "nope")
    with pytest.raises(NotFound, match="does not exist in project 'default'"):
        context.db.read(get_pipeline_run, "default", "0" * 32)
    with pytest.raises(NotFound, match="no step invocation 'ghost'"):
        context.db.read(get_step_run, "default", run.id, "ghost")
    with pytest.raises(NotFound, match="has no step invocation 'ghost'; it has: square"):
        run.step("ghost")
    with pytest.raises(NotFound, match="project 'nope' does not exist"):
        _steps.fan.run(context=context, project="nope")
