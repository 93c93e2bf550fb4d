"""Runner ``ray``: the executor inside a Ray task that asks for the job's resources.

The supervisor connects to Ray (``ray.init()``: ``RAY_ADDRESS`` names a
cluster, else a local instance starts) and submits one task with
``num_cpus``, ``num_gpus`` and ``memory`` from the job's resources, no
retries. The task opens the same stores from the settings it is given and
runs :func:`~kiln.training._job_executor.execute_job` on its node, so logs,
cancel (the executor polls ``cancel_requested``), the timeout and usage
work there as they do locally. A job that no node of the cluster can fit is
failed at once rather than queued forever. If the task itself is lost (its
worker or node died), the supervisor records the job failed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from kiln.training._job_executor import KILL_GRACE, TICK, execute_job, record_outcome
from kiln.training._job_records import Outcome, load_job
from kiln.training._jobs import Job, JobStatus

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.pipelines._resources import Resources

__all__ = ["run_on_ray"]

#: Seconds the supervisor waits, after asking the task to stop, before cancelling it by force.
_FORCE_AFTER = KILL_GRACE + 30.0


def _execute_in_worker(settings: dict[str, Any], job_id: int) -> Job:
    """The Ray task: open the stores, run the job here (not as a subreaper: the worker is Ray's)."""
    from kiln.config import Settings
    from kiln.context import Context

    context = Context(Settings(**settings))
    try:
        return execute_job(context, context.db.read(load_job, job_id))
    finally:
        context.close()


def _options(resources: Resources, job_id: int) -> dict[str, Any]:
    options: dict[str, Any] = {
        "num_cpus": resources.cpu,
        "num_gpus": resources.gpu,
        "max_retries": 0,
        "name": f"kiln-job-{job_id}",
    }
    if resources.memory is not None:
        options["memory"] = resources.memory
    return options


def _unfit(ray: Any, resources: Resources) -> str | None:
    """Why no alive node can run the job, or None when one can."""
    nodes = [node.get("Resources", {}) for node in ray.nodes() if node.get("Alive")]
    for node in nodes:
        if (
            resources.cpu <= node.get("CPU", 0.0)
            and resources.gpu <= node.get("GPU", 0.0)
            and (resources.memory is None or resources.memory <= node.get("memory", 0.0))
        ):
            return None
    return (
        f"no node of the Ray cluster has {resources.cpu:g} CPUs, {resources.gpu:g} GPUs"
        + (f" and {resources.memory} bytes of memory" if resources.memory is not None else "")
        + f" ({len(nodes)} alive node(s)); ask for less with --resources, or add a larger node"
    )


def run_on_ray(context: Context, job: Job, stop: threading.Event) -> Job:
    """Run ``job`` in a Ray task and wait for it; the job as recorded."""
    from kiln.pipelines._ray import import_ray
    from kiln.training._jobs import request_cancel

    ray = import_ray()
    if not ray.is_initialized():
        ray.init(log_to_driver=False, logging_level=logging.WARNING)
    problem = _unfit(ray, job.resources)
    if problem is not None:
        return record_outcome(context, job, Outcome(JobStatus.FAILED, failure=problem))
    settings = {
        "home": str(context.settings.home),
        "database_url": context.settings.resolved_database_url,
        "artifact_root": context.settings.resolved_artifact_root,
        "project": job.project,
    }
    remote = ray.remote(_execute_in_worker).options(**_options(job.resources, job.id))
    ref = remote.remote(settings, job.id)
    asked_at: float | None = None
    while True:
        ready, _ = ray.wait([ref], timeout=TICK)
        if ready:
            break
        if stop.is_set() and asked_at is None:
            asked_at = time.monotonic()
            with contextlib.suppress(Exception):  # it ended meanwhile
                context.db.run(request_cancel, job.project, job.id)
        if asked_at is not None and time.monotonic() - asked_at > _FORCE_AFTER:
            ray.cancel(ref, force=True)
            break
    try:
        done: Job = ray.get(ref)
        return done
    except Exception as error:
        status = JobStatus.CANCELLED if asked_at is not None else JobStatus.FAILED
        cause = getattr(error, "cause", None) or error
        outcome = Outcome(status, failure=f"its Ray task was lost: {type(cause).__name__}: {cause}")
        return record_outcome(context, job, outcome)
