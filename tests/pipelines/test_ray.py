"""What only the Ray runner does; the conformance suite (test_runners.py) covers the rest.

The tests marked ``ray`` run on the session's local Ray instance (2 CPUs,
see conftest.py). The steps they define at module level are imported by
the Ray workers as ``tests.pipelines.test_ray:...``; those defined inside a
test travel by value (cloudpickle).
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from kiln.context import Context
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.pipelines import (
    PipelineStatus,
    RayRunner,
    Runner,
    StepStatus,
    get_runner,
    load_output,
    pipeline,
    step,
)
from tests.pipelines import _steps
from tests.pipelines.conftest import open_runner
from tests.test_public_api import imported_modules


@pytest.fixture
def ray_runner(request: pytest.FixtureRequest, open_runners: dict[str, Runner]) -> Runner:
    """The session's Ray runner (``kill_grace=1.0``), shared with the conformance suite."""
    return open_runner("ray", request, open_runners)


@step(resources={"cpu": 2, "memory": "64MiB"})
def assigned() -> dict[str, float]:
    """What Ray reserved for this task, as the task sees it."""
    import ray

    return dict(ray.get_runtime_context().get_assigned_resources())  # type: ignore[no-untyped-call]


@step(resources={"cpu": 0.5})
def half() -> dict[str, float]:
    import ray

    return dict(ray.get_runtime_context().get_assigned_resources())  # type: ignore[no-untyped-call]


@pipeline
def resourced() -> Any:
    return assigned(), half()


@step(resources={"cpu": 3})
def too_wide() -> int:
    return 3


@pipeline
def too_wide_pipeline() -> Any:
    return too_wide()


# -- needs no Ray ----------------------------------------------------------------------


def test_importing_kiln_loads_no_ray() -> None:
    for code in (
        "import kiln",
        "import kiln.pipelines",
        "import kiln.pipelines; kiln.pipelines.RayRunner; kiln.pipelines.get_runner",
    ):
        modules = imported_modules(code)

        assert sorted(name for name in modules if name.split(".")[0] == "ray") == [], code


def test_without_ray_the_runner_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if absent

    with pytest.raises(NotFound, match=r"pip install 'kiln-ml\[ray\]'"):
        get_runner("ray")
    with pytest.raises(NotFound, match="the ray runner needs Ray"):
        RayRunner()


# -- on the session's Ray instance -----------------------------------------------------


@pytest.mark.ray
def test_resources_become_the_ray_task_options(ray_runner: Runner, sqlite_context: Context) -> None:
    run = resourced.run(runner=ray_runner, context=sqlite_context)

    assert load_output(run.id, "assigned", context=sqlite_context) == {
        "CPU": 2.0,
        "memory": 64 * 1024 * 1024,
    }
    assert load_output(run.id, "half", context=sqlite_context) == {"CPU": 0.5}
    assert run.step("assigned").resources == {"cpu": 2.0, "gpu": 0.0, "memory": 64 * 1024**2}
    assert ray_runner.cpu_budget() is None


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_a_killed_worker_fails_only_its_step(ray_runner: Runner, sqlite_context: Context) -> None:
    started = time.monotonic()
    run = _steps.crashing.run(runner=ray_runner, context=sqlite_context, raise_on_failure=False)

    assert time.monotonic() - started < 30
    assert run.status is PipelineStatus.FAILED
    die = run.step("die")
    assert die.status is StepStatus.FAILED
    assert die.error is not None
    assert die.error.startswith("StepCrashed: the Ray worker process running step 'die' died")
    assert run.step("square").status is StepStatus.SUCCEEDED
    assert load_output(run.id, "square", context=sqlite_context) == 16
    assert "step 'die': StepCrashed" in (run.error or "")
    again = _steps.linear.run(runner=ray_runner, context=sqlite_context, no_cache=True)
    assert again.status is PipelineStatus.SUCCEEDED


@pytest.mark.ray
@pytest.mark.timeout(60)
def test_a_step_that_ignores_its_timeout_has_its_ray_task_killed(
    ray_runner: Runner, sqlite_context: Context
) -> None:
    started = time.monotonic()
    run = _steps.very_slow.run(runner=ray_runner, context=sqlite_context, raise_on_failure=False)

    assert time.monotonic() - started < 15  # 0.3 s timeout + 1 s grace, not the 30 s sleep
    stubborn = run.step("stubborn")
    assert stubborn.status is StepStatus.FAILED
    assert "StepTimeout" in (stubborn.error or "")
    assert "its Ray task was cancelled and its worker killed" in (stubborn.error or "")
    again = _steps.linear.run(runner=ray_runner, context=sqlite_context, no_cache=True)
    assert again.status is PipelineStatus.SUCCEEDED


@pytest.mark.ray
def test_local_functions_and_closures_travel_by_value(
    ray_runner: Runner, sqlite_context: Context
) -> None:
    offset = 40

    def shifted(n: int) -> int:
        return n + offset

    shifted_step = step(shifted)
    lambda_step = step(name="doubled")(lambda n: n * 2)

    @pipeline
    def local() -> Any:
        return lambda_step(shifted_step(1))

    run = local.run(runner=ray_runner, context=sqlite_context)

    assert load_output(run.id, "doubled", context=sqlite_context) == 82


@pytest.mark.ray
def test_what_cloudpickle_cannot_ship_is_refused_before_anything_runs(
    ray_runner: Runner, sqlite_context: Context
) -> None:
    lock = threading.Lock()

    def locked(n: int) -> int:
        with lock:
            return n

    locked_step = step(locked)

    @pipeline
    def with_lock() -> Any:
        return locked_step(1)

    with pytest.raises(InvalidInput, match="cannot be sent to Ray workers: cloudpickle"):
        with_lock.run(runner=ray_runner, context=sqlite_context)


@pytest.mark.ray
def test_a_step_no_node_can_hold_is_refused_instead_of_queued_forever(
    ray_runner: Runner, sqlite_context: Context
) -> None:
    with pytest.raises(InvalidInput, match=r"asks for 3 CPUs.*largest has 2 CPUs"):
        too_wide_pipeline.run(runner=ray_runner, context=sqlite_context)

    runner = RayRunner()
    runner.open()
    task_outcome = runner.submit(
        _task_for(too_wide, sqlite_context), sqlite_context.artifacts
    ).exception()
    assert isinstance(task_outcome, InvalidInput)
    runner.close()


@pytest.mark.ray
def test_a_step_module_the_workers_lack_fails_with_the_import_error(
    ray_runner: Runner, sqlite_context: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this process can import the module, as on a cluster whose nodes lack the code.
    (tmp_path / "driver_only_steps.py").write_text(
        "from kiln.pipelines import step\n\n@step\ndef here_only() -> int:\n    return 1\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from driver_only_steps import here_only  # type: ignore[import-not-found]

    @pipeline
    def elsewhere() -> Any:
        return here_only(), _steps.square(3)

    run = elsewhere.run(runner=ray_runner, context=sqlite_context, raise_on_failure=False)

    error = run.step("here_only").error or ""
    assert "cannot import the step function driver_only_steps:here_only" in error
    assert run.step("square").status is StepStatus.SUCCEEDED


@pytest.mark.ray
def test_the_runner_uses_an_existing_connection_and_leaves_it_open(
    ray_session: ModuleType,
) -> None:
    runner = RayRunner()
    runner.open()
    runner.close()
    assert ray_session.is_initialized()

    with pytest.raises(Conflict, match="already initialised"):
        RayRunner(address="auto").open()
    with pytest.raises(InvalidInput, match="kill_grace"):
        RayRunner(kill_grace=-1)


def _task_for(one: Any, context: Context) -> Any:
    """A bare task for ``one`` (a step without inputs), as the engine would submit it."""
    from kiln.pipelines import Resources, StepTask

    resources = one.resources
    assert isinstance(resources, Resources)
    return StepTask(
        run_id="0" * 32,
        invocation=one.name,
        step=one.name,
        function=one.fn,
        order=(),
        params={},
        inputs={},
        retries=0,
        backoff=0.0,
        timeout=None,
        resources=resources,
        artifact_location=context.artifacts.backend.location,
    )
