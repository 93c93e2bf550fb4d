"""Where trials run: this process, local worker processes, or Ray tasks.

Each worker runs :func:`~kiln.training._loop.run_trials` on its own copy of
the spec; they meet only in the metadata store, which hands out trial
numbers and the budget. Local workers start with ``spawn`` (no forked
database connections or threads) and receive the objective through
cloudpickle, so an objective defined in a script or a notebook works.
A worker that dies leaves its trial to be found dead and retried by the
others, or by the round this process runs after them.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from kiln.context import Context
    from kiln.pipelines._resources import Resources
    from kiln.training._loop import LoopSpec

__all__ = ["run_here", "run_in_processes", "run_on_ray"]

_log = logging.getLogger("kiln.training")

#: How often the coordinating process polls for progress while workers run.
POLL_SECONDS = 0.3


def _dumps(spec: LoopSpec) -> bytes:
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps(spec))
    except Exception as exc:
        raise InvalidInput(
            f"the objective cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
            "define it at module level, or run with parallelism=1",
            field="objective",
        ) from None


def _thread_env(resources: Resources | None) -> dict[str, str]:
    """Thread counts for numerical libraries: a trial gets the CPUs it asked for, no more."""
    if resources is None:
        return {}
    threads = str(max(1, int(resources.cpu)))
    return dict.fromkeys(("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"), threads)


def run_here(
    context: Context, spec: LoopSpec, on_trial: Callable[[FrozenTrial], None] | None
) -> int:
    """Run trials in this process."""
    from kiln.training._loop import run_trials

    return run_trials(context, spec, on_trial)


def worker_main(payload: bytes, worker: int) -> None:
    """Entry of a local worker process: run trials of the pickled spec."""
    import signal

    import cloudpickle

    from kiln.context import configure, get_context
    from kiln.training._loop import run_trials

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator decides when workers stop
    spec: LoopSpec = cloudpickle.loads(payload)
    os.environ.update(spec.env)
    configure(spec.settings)
    run_trials(get_context(), replace(spec, worker=worker))


def run_in_processes(
    spec: LoopSpec,
    parallelism: int,
    resources: Resources | None,
    poll: Callable[[], None],
) -> list[int]:
    """Run ``parallelism`` local worker processes to the end; their exit codes."""
    payload = _dumps(replace(spec, env={**spec.env, **_thread_env(resources)}))
    spawn = multiprocessing.get_context("spawn")
    workers = [
        spawn.Process(target=worker_main, args=(payload, index), name=f"kiln-tune-{index}")
        for index in range(parallelism)
    ]
    for worker in workers:
        worker.start()
    try:
        while any(worker.is_alive() for worker in workers):
            poll()
            time.sleep(POLL_SECONDS)
    except BaseException:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(5)
        raise
    poll()
    return [worker.exitcode if worker.exitcode is not None else -1 for worker in workers]


def _ray_worker(payload: bytes, worker: int) -> int:
    import cloudpickle

    from kiln.context import Context
    from kiln.training._loop import run_trials

    spec: LoopSpec = cloudpickle.loads(payload)
    os.environ.update(spec.env)
    return run_trials(Context(spec.settings), replace(spec, worker=worker))


def run_on_ray(
    spec: LoopSpec,
    parallelism: int,
    resources: Resources | None,
    poll: Callable[[], None],
) -> list[int]:
    """Run ``parallelism`` Ray tasks, each a worker with the trial's resources; trials run."""
    from kiln.pipelines._ray import import_ray

    ray = import_ray()
    started = False
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
        started = True
    options: dict[str, Any] = {"max_retries": 0}
    if resources is not None:
        options.update(num_cpus=resources.cpu, num_gpus=resources.gpu)
        if resources.memory:
            options["memory"] = resources.memory
    remote = ray.remote(**options)(_ray_worker)
    payload = _dumps(replace(spec, env={**spec.env, **_thread_env(resources)}))
    refs = [remote.remote(payload, index) for index in range(parallelism)]
    try:
        pending = list(refs)
        while pending:
            _, pending = ray.wait(pending, timeout=POLL_SECONDS)
            poll()
        ran = []
        for ref in refs:
            try:
                ran.append(int(ray.get(ref)))
            except Exception as exc:  # its trial is found dead and retried after the round
                _log.warning("a Ray tuning worker failed: %s", exc)
                ran.append(0)
        return ran
    except BaseException:
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
