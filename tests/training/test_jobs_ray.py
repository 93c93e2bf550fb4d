"""Runner ``ray``: the executor runs inside a Ray task (on the session's local Ray instance,
which the supervisor joins through ``RAY_ADDRESS``) with the job's resources; the output,
the run and the usage are recorded as with the local runner, a cancel ends the tree from
wherever the task runs, and a job no node can fit fails at once."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from kiln.context import Context
from kiln.tracking._entities import RunStatus
from kiln.tracking._runs import get_run
from kiln.training._job_control import cancel_job, job_logs, submit_job, wait_job
from kiln.training._jobs import JobStatus
from tests.training._jobs import TREE, assert_gone, tree_pids, write

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]

PROBE = """\
import os
print("in ray worker", "RAY_RAYLET_PID" in os.environ or "RAY_JOB_ID" in os.environ, flush=True)
print("cpus", os.environ.get("OMP_NUM_THREADS"), flush=True)
"""


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[ModuleType]:
    """The session's Ray if this process has one, else a local one for this module."""
    from tests.pipelines.conftest import local_ray, require_ray

    require_ray()
    ray = sys.modules.get("ray")  # not imported here: Ray reads its auth mode on import
    if ray is not None and ray.is_initialized():
        yield ray
        return
    with local_ray() as started:
        yield started


@pytest.fixture
def ray_context(
    ray_cluster: ModuleType, make_context: Callable[..., Context], monkeypatch: pytest.MonkeyPatch
) -> Context:
    monkeypatch.setenv("RAY_ADDRESS", ray_cluster.get_runtime_context().gcs_address)
    return make_context()


def test_a_job_runs_in_a_ray_task_with_its_resources(ray_context: Context, tmp_path: Path) -> None:
    write(tmp_path, "probe.py", PROBE)
    job = submit_job("probe.py", runner="ray", resources="cpu=1", context=ray_context)
    done = wait_job(job.id, timeout=120, context=ray_context)
    text = job_logs(done.id, context=ray_context).text
    assert done.status is JobStatus.SUCCEEDED, (done.failure, text)
    assert "in ray worker True\n" in text
    assert "cpus 1\n" in text  # Ray sets the thread count of a task's CPUs
    assert done.cpu_seconds is not None
    assert done.cpu_seconds > 0
    run = ray_context.db.read(get_run, "default", done.run_id)  # type: ignore[arg-type]
    assert run.status is RunStatus.FINISHED
    assert "job.cpu_seconds" in run.metrics


def test_cancel_ends_a_ray_jobs_tree(ray_context: Context, tmp_path: Path) -> None:
    write(tmp_path, "tree.py", TREE)
    job = submit_job("tree.py", runner="ray", context=ray_context)
    pids = tree_pids(ray_context, job.id, timeout=90)
    cancel_job(job.id, context=ray_context)
    done = wait_job(job.id, timeout=60, context=ray_context)
    assert done.status is JobStatus.CANCELLED, done.failure
    assert_gone(pids[:3])  # the orphan's parent is Ray's worker, which is no subreaper


def test_a_job_no_node_can_fit_fails_at_once(ray_context: Context, tmp_path: Path) -> None:
    write(tmp_path, "probe.py", PROBE)
    job = submit_job("probe.py", runner="ray", resources="cpu=64", context=ray_context)
    done = wait_job(job.id, timeout=60, context=ray_context)
    assert done.status is JobStatus.FAILED
    assert done.failure is not None
    assert "no node of the Ray cluster has 64 CPUs" in done.failure
