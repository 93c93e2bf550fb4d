"""What only the parallel runner does: worker processes that die, hang or cannot import a step."""

from __future__ import annotations

import time
from typing import Any

import pytest

from kiln.context import Context
from kiln.errors import Conflict, InvalidInput
from kiln.pipelines import (
    ParallelRunner,
    PipelineStatus,
    Runner,
    StepStatus,
    load_output,
    pipeline,
    step,
)
from tests.pipelines import _steps


@pytest.fixture
def parallel(open_runners: dict[str, Runner]) -> Runner:
    from tests.pipelines.conftest import RUNNERS

    if "parallel" not in open_runners:
        open_runners["parallel"] = RUNNERS["parallel"]()
    return open_runners["parallel"]


@pytest.mark.timeout(60)
def test_a_killed_worker_fails_its_step_and_the_pool_goes_on(
    parallel: Runner, sqlite_context: Context
) -> None:
    run = _steps.crashing.run(runner=parallel, context=sqlite_context, raise_on_failure=False)

    assert run.status is PipelineStatus.FAILED
    die = run.step("die")
    assert die.status is StepStatus.FAILED
    assert die.error is not None
    assert "StepCrashed" in die.error
    assert "killed by signal SIGKILL" in die.error
    assert run.step("square").status is StepStatus.SUCCEEDED
    again = _steps.linear.run(runner=parallel, context=sqlite_context, no_cache=True)
    assert again.status is PipelineStatus.SUCCEEDED


@pytest.mark.timeout(60)
def test_a_step_that_ignores_its_timeout_has_its_worker_killed(
    parallel: Runner, sqlite_context: Context
) -> None:
    started = time.monotonic()
    run = _steps.very_slow.run(runner=parallel, context=sqlite_context, raise_on_failure=False)

    assert time.monotonic() - started < 15  # 0.3 s timeout + 1 s grace, not the 30 s sleep
    stubborn = run.step("stubborn")
    assert stubborn.status is StepStatus.FAILED
    assert "worker process was killed" in (stubborn.error or "")


def test_lambdas_and_local_functions_are_refused_before_anything_runs(
    sqlite_context: Context,
) -> None:
    def local(n: int) -> int:
        return n

    local_step = step(local)
    lambda_step = step(lambda n: n, name="anonymous")

    @pipeline
    def with_local() -> Any:
        return local_step(1)

    @pipeline
    def with_lambda() -> Any:
        return lambda_step(1)

    runner = ParallelRunner(max_workers=1)
    with pytest.raises(InvalidInput, match="a function defined inside another function"):
        with_local.run(runner=runner, context=sqlite_context)
    with pytest.raises(InvalidInput, match="lambda"):
        with_lambda.run(runner="parallel", context=sqlite_context)
    runner.close()
    # The sequential runner takes them.
    assert (
        load_output(with_local.run(context=sqlite_context).id, "local", context=sqlite_context) == 1
    )


def test_options_are_checked() -> None:
    with pytest.raises(InvalidInput, match="max_workers"):
        ParallelRunner(max_workers=0)
    with pytest.raises(InvalidInput, match="start method"):
        ParallelRunner(start_method="teleport")


def test_a_closed_pool_refuses_new_tasks() -> None:
    from kiln.pipelines._parallel import _WorkerPool

    pool = _WorkerPool(1, "spawn")
    pool.shutdown()
    with pytest.raises(Conflict, match="closed"):
        pool.submit(None, None)  # type: ignore[arg-type]
