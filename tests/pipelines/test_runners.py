"""The runner conformance suite: every runner in ``conftest.RUNNERS`` passes all of it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kiln.context import Context
from kiln.errors import InvalidInput
from kiln.pipelines import (
    PipelineFailed,
    PipelineRun,
    PipelineStatus,
    Runner,
    StepStatus,
    load_output,
)
from tests.pipelines import _steps


def statuses(run: PipelineRun) -> dict[str, str]:
    return {step.invocation: step.status.value for step in run.steps}


def cached(run: PipelineRun) -> dict[str, bool]:
    return {step.invocation: step.cached for step in run.steps}


class TestRunnerConformance:
    """What any runner must do; parametrized by the ``runner`` fixture."""

    def test_linear_chain(self, runner: Runner, sqlite_context: Context) -> None:
        run = _steps.linear.run({"rows": 4}, runner=runner, context=sqlite_context)

        assert run.status is PipelineStatus.SUCCEEDED
        assert run.runner == runner.name
        assert [s.invocation for s in run.steps] == [
            "make_frame",
            "add_one",
            "add_one#2",
            "add_one#3",
            "total",
        ]
        assert set(statuses(run).values()) == {"SUCCEEDED"}
        assert run.step("add_one#2").upstream == ("add_one",)
        assert load_output(run.id, "total", context=sqlite_context) == 0 + 1 + 2 + 3 + 4 * 3
        frame = load_output(run.id, "add_one#3", context=sqlite_context)
        pd.testing.assert_frame_equal(frame, _steps.make_frame.fn(4).assign(x=lambda f: f.x + 3))

    @pytest.mark.parametrize("use_map", [False, True], ids=["comprehension", "map"])
    def test_fan_out_and_fan_in(
        self, runner: Runner, sqlite_context: Context, use_map: bool
    ) -> None:
        run = _steps.fan.run({"n": 4, "use_map": use_map}, runner=runner, context=sqlite_context)

        squares = (
            [f"square[{i}]" for i in range(4)]
            if use_map
            else [
                "square",
                "square#2",
                "square#3",
                "square#4",
            ]
        )
        assert [s.invocation for s in run.steps] == [*squares, "describe", "add_all"]
        assert run.step("add_all").upstream == tuple(squares)
        assert load_output(run.id, "add_all", context=sqlite_context) == 0 + 1 + 4 + 9
        assert load_output(run.id, "describe", context=sqlite_context) == {"first": 1, "last": 10}

    def test_params_from_python_and_yaml(
        self, runner: Runner, sqlite_context: Context, tmp_path: Path
    ) -> None:
        config = tmp_path / "params.yaml"
        config.write_text("rows: 3\nscale: 2.0\n")

        run = _steps.linear.run(
            {"scale": 0.5}, config=config, runner=runner, context=sqlite_context
        )

        assert run.params == {"rows": 3, "scale": 0.5}
        assert run.step("make_frame").params == {"rows": 3, "scale": 0.5}
        config.write_text("rows: 3\nsteps: 2\nalpha: 1\n")
        with pytest.raises(InvalidInput, match=r"unknown keys in config file .*: alpha, steps"):
            _steps.linear.run(config=config, runner=runner, context=sqlite_context)

    @pytest.mark.parametrize("kind", ["pandas", "polars", "arrow", "numpy", "json", "model"])
    def test_materializers_round_trip(
        self, runner: Runner, sqlite_context: Context, kind: str
    ) -> None:
        if kind == "polars":
            pytest.importorskip("polars")
        expected = _steps.value_of(kind)

        run = _steps.round_trip.run({"kind": kind}, runner=runner, context=sqlite_context)

        produced = run.step("produce")
        (output,) = produced.outputs
        assert output.type == f"{type(expected).__module__}.{type(expected).__qualname__}"
        loaded = load_output(run.id, "produce", context=sqlite_context)
        consumer_saw = load_output(run.id, "type_name", context=sqlite_context)
        assert consumer_saw == output.type
        if kind == "pandas":
            pd.testing.assert_frame_equal(loaded, expected)
        elif kind in ("polars", "arrow"):
            assert loaded.equals(expected)
        elif kind == "numpy":
            np.testing.assert_array_equal(loaded, expected)
            assert loaded.dtype == expected.dtype
        elif kind == "json":
            assert loaded == expected
        else:
            sample = np.array([[0.1, 0.95], [0.95, 0.05]])
            np.testing.assert_array_equal(loaded.predict(sample), expected.predict(sample))
            assert output.materializer == "kiln_model"

    def test_second_run_is_fully_cached(self, runner: Runner, sqlite_context: Context) -> None:
        first = _steps.linear.run(runner=runner, context=sqlite_context)
        second = _steps.linear.run(runner=runner, context=sqlite_context)

        assert not any(cached(first).values())
        assert all(cached(second).values())
        assert [s.outputs for s in second.steps] == [s.outputs for s in first.steps]
        assert [s.cache_key for s in second.steps] == [s.cache_key for s in first.steps]

    def test_a_changed_param_misses(self, runner: Runner, sqlite_context: Context) -> None:
        _steps.linear.run({"rows": 5}, runner=runner, context=sqlite_context)
        changed = _steps.linear.run({"rows": 6}, runner=runner, context=sqlite_context)

        assert not any(cached(changed).values())

    def test_changed_input_content_misses_and_same_content_hits(
        self, runner: Runner, sqlite_context: Context, tmp_path: Path
    ) -> None:
        number = tmp_path / "number.txt"
        number.write_text("1")
        params = {"path": str(number)}
        first = _steps.from_file.run(params, runner=runner, context=sqlite_context)
        same = _steps.from_file.run(params, runner=runner, context=sqlite_context)
        number.write_text("2")
        changed = _steps.from_file.run(params, runner=runner, context=sqlite_context)

        assert cached(first) == {"read_number": False, "double": False}
        assert cached(same) == {"read_number": False, "double": True}  # cache=False always runs
        assert cached(changed) == {"read_number": False, "double": False}
        assert load_output(changed.id, "double", context=sqlite_context) == 4

    def test_no_cache_runs_everything(self, runner: Runner, sqlite_context: Context) -> None:
        _steps.linear.run(runner=runner, context=sqlite_context)
        again = _steps.linear.run(runner=runner, context=sqlite_context, no_cache=True)
        after = _steps.linear.run(runner=runner, context=sqlite_context)

        assert again.no_cache
        assert not any(cached(again).values())
        assert all(cached(after).values())

    def test_a_deleted_artifact_is_not_a_hit(self, runner: Runner, sqlite_context: Context) -> None:
        first = _steps.linear.run(runner=runner, context=sqlite_context)
        sqlite_context.artifacts.delete(first.step("make_frame").outputs[0].digest)

        second = _steps.linear.run(runner=runner, context=sqlite_context)

        assert not second.step("make_frame").cached
        # Re-made with the same bytes, so everything downstream hits again.
        assert all(cached(second)[name] for name in ("add_one", "add_one#2", "total"))

    def test_a_failing_step_fails_the_run_and_independent_steps_finish(
        self, runner: Runner, sqlite_context: Context
    ) -> None:
        with pytest.raises(PipelineFailed, match="step 'boom': ValueError: boom") as caught:
            _steps.failing.run(runner=runner, context=sqlite_context)

        run = caught.value.run
        assert run.status is PipelineStatus.FAILED
        assert statuses(run) == {
            "boom": "FAILED",
            "double": "SKIPPED",
            "square": "SUCCEEDED",
            "square#2": "SUCCEEDED",
            "add_all": "SUCCEEDED",
        }
        boom = run.step("boom")
        assert boom.error == "ValueError: boom"
        assert boom.traceback is not None
        assert 'raise ValueError("boom")' in boom.traceback
        assert "upstream step 'boom'" in (run.step("double").error or "")

    def test_retries_with_back_off_succeed(
        self, runner: Runner, sqlite_context: Context, tmp_path: Path
    ) -> None:
        params = {"path": str(tmp_path / "attempts"), "succeed_on": 3}

        run = _steps.retrying.run(params, runner=runner, context=sqlite_context)

        flaky = run.step("flaky")
        assert flaky.status is StepStatus.SUCCEEDED
        assert flaky.attempts == 3
        assert "attempt 1 of 4 failed (RuntimeError: attempt 1 fails)" in flaky.stderr
        assert load_output(run.id, "flaky", context=sqlite_context) == 3

    @pytest.mark.timeout(60)
    def test_a_timeout_fails_the_step(self, runner: Runner, sqlite_context: Context) -> None:
        started = time.monotonic()
        run = _steps.slow.run(runner=runner, context=sqlite_context, raise_on_failure=False)

        assert time.monotonic() - started < 20
        assert run.status is PipelineStatus.FAILED
        sleepy = run.step("sleepy")
        assert sleepy.status is StepStatus.FAILED
        assert sleepy.error is not None
        assert "StepTimeout" in sleepy.error
        assert "timeout of 0.5 s" in sleepy.error
        assert run.step("square").status is StepStatus.SUCCEEDED

    def test_an_unstorable_output_names_the_step_and_type(
        self, runner: Runner, sqlite_context: Context
    ) -> None:
        run = _steps.unstorable_pipeline.run(
            runner=runner, context=sqlite_context, raise_on_failure=False
        )

        error = run.step("unstorable").error or ""
        assert "step 'unstorable' returned a tests.pipelines._steps.Opaque" in error
        assert "no materializer" in error

    def test_output_is_captured(self, runner: Runner, sqlite_context: Context) -> None:
        run = _steps.talking.run({"lines": 2}, runner=runner, context=sqlite_context)

        chatty = run.step("chatty")
        assert chatty.stdout == "out line 0\nout line 1\n"
        assert chatty.stderr == "to stderr\n"
        assert chatty.stdout_digest is None

    def test_long_output_is_cut_and_kept_whole_as_a_blob(
        self, runner: Runner, sqlite_context: Context
    ) -> None:
        run = _steps.talking.run({"lines": 8000}, runner=runner, context=sqlite_context)

        chatty = run.step("chatty")
        assert chatty.stdout_digest is not None
        assert chatty.stdout.startswith("[… ")
        assert chatty.stdout.endswith("out line 7999\n")
        whole = sqlite_context.artifacts.read_bytes(chatty.stdout_digest).decode()
        assert whole.count("\n") == 8000

    def test_cpu_time_and_peak_memory_are_recorded(
        self, runner: Runner, sqlite_context: Context
    ) -> None:
        run = _steps.working.run({"megabytes": 64}, runner=runner, context=sqlite_context)

        busy = run.step("busy")
        assert busy.cpu_seconds is not None
        assert busy.cpu_seconds >= 0.15
        assert busy.peak_memory_bytes is not None
        assert busy.peak_memory_bytes >= 64 * 1024 * 1024
        assert busy.duration_seconds is not None
        assert busy.duration_seconds >= 0.15
        assert busy.start_time is not None
        assert busy.end_time is not None
        assert busy.start_time <= busy.end_time

    def test_cpu_resources_fit_the_budget(self, runner: Runner, sqlite_context: Context) -> None:
        budget = runner.cpu_budget()
        if budget is not None and budget < 2:
            with pytest.raises(InvalidInput, match="asks for 2 CPUs"):
                _steps.wide_pipeline.run(runner=runner, context=sqlite_context)
            return

        run = _steps.wide_pipeline.run(runner=runner, context=sqlite_context)

        assert run.step("wide").resources == {"cpu": 2.0, "gpu": 0.0, "memory": None}
        assert load_output(run.id, "add_all", context=sqlite_context) == 1 + 2 + 9
