"""``ParallelRunner``: steps in a pool of local worker processes.

Why not ``concurrent.futures.ProcessPoolExecutor``: when one of its workers
dies, the executor cannot say which task it was running, marks every
pending task broken and stops working. Here each worker has its own pipe
and a known task, so a worker that dies (killed, out of memory) fails only
its own step, is replaced on demand, and the run goes on; and a step that
overruns its timeout in C code that ignores the in-worker alarm can be
stopped by killing its worker.

A manager thread hands tasks to idle workers (starting up to
``max_workers`` of them, with the ``spawn`` method by default, so steps must
be importable by ``module:qualname``), waits on their pipes and process
sentinels at once, and resolves the futures.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput
from kiln.pipelines._entities import StepCrashed, StepTimeout
from kiln.pipelines._runner import Runner
from kiln.pipelines._step import reference

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._step import Step
    from kiln.pipelines._task import StepOutcome, StepTask

__all__ = ["ParallelRunner"]


class ParallelRunner(Runner):
    """Runs steps in up to ``max_workers`` worker processes (default: the CPU count).

    ``max_workers`` is also the CPU budget: steps run side by side while the
    sum of their ``resources.cpu`` fits. Workers start on first use and are
    reused until :meth:`close`; pass one instance to several runs to keep
    them. ``kill_grace`` is how long past its timeouts (all attempts and
    back-offs) a step may go before its worker is killed.
    """

    name = "parallel"

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        start_method: str = "spawn",
        kill_grace: float = 5.0,
    ) -> None:
        workers = max_workers if max_workers is not None else (os.cpu_count() or 1)
        if not isinstance(workers, int) or workers < 1:
            raise InvalidInput(f"max_workers must be a positive whole number, got {max_workers!r}")
        if start_method not in multiprocessing.get_all_start_methods():
            raise InvalidInput(
                f"start method {start_method!r} is not available here; use one of "
                f"{', '.join(multiprocessing.get_all_start_methods())}"
            )
        self.max_workers = workers
        self.start_method = start_method
        self.kill_grace = kill_grace
        self._pool: _WorkerPool | None = None

    def open(self) -> None:
        if self._pool is None:
            self._pool = _WorkerPool(self.max_workers, self.start_method)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def check(self, step: Step[Any, Any]) -> None:
        reference(step.fn, step.name)

    def cpu_budget(self) -> float | None:
        return float(self.max_workers)

    def submit(self, task: StepTask, store: ArtifactStore) -> Future[StepOutcome]:
        self.open()
        assert self._pool is not None
        if callable(task.function):
            task = replace(task, function=reference(task.function, task.step))
        return self._pool.submit(task, task.deadline_seconds(self.kill_grace))


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    connection: Connection
    task: StepTask | None = None
    future: Future[StepOutcome] | None = None
    deadline: float | None = None


class _WorkerPool:
    """Worker processes with one pipe each, driven by a manager thread."""

    def __init__(self, size: int, start_method: str) -> None:
        self._size = size
        self._context = multiprocessing.get_context(start_method)
        self._lock = threading.Lock()
        self._pending: deque[tuple[StepTask, float | None, Future[StepOutcome]]] = deque()
        self._workers: list[_Worker] = []
        self._stopping = False
        self._wake_reader, self._wake_writer = multiprocessing.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._loop, name="kiln-parallel-runner", daemon=True)
        self._thread.start()
        self._finalizer = weakref.finalize(self, _stop_all, self._workers)

    def submit(self, task: StepTask, deadline_seconds: float | None) -> Future[StepOutcome]:
        future: Future[StepOutcome] = Future()
        with self._lock:
            if self._stopping:
                raise Conflict("the parallel runner is closed; open it again to submit steps")
            self._pending.append((task, deadline_seconds, future))
        self._wake()
        return future

    def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
        self._wake()
        self._thread.join()
        self._wake_reader.close()
        self._wake_writer.close()
        self._finalizer.detach()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # closed by shutdown
            self._wake_writer.send_bytes(b".")

    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        break
                    self._dispatch()
                busy = [worker for worker in self._workers if worker.task is not None]
                waitables: list[Any] = [self._wake_reader]
                for worker in busy:
                    waitables += [worker.connection, worker.process.sentinel]
                deadlines = [w.deadline for w in busy if w.deadline is not None]
                timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
                ready = wait(waitables, timeout)
                if self._wake_reader in ready:
                    while self._wake_reader.poll():
                        self._wake_reader.recv_bytes()
                for worker in busy:
                    self._collect(worker, ready)
        finally:
            self._stop()

    def _dispatch(self) -> None:
        while self._pending:
            worker = next((w for w in self._workers if w.task is None), None)
            if worker is None:
                if len(self._workers) >= self._size:
                    return
                try:
                    worker = self._start_worker()
                except Exception as exc:  # e.g. spawn refused: fail the task, not the thread
                    _, _, future = self._pending.popleft()
                    if future.set_running_or_notify_cancel():
                        future.set_exception(exc)
                    continue
            task, deadline_seconds, future = self._pending.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                worker.connection.send(task)
            except Exception as exc:  # the task did not pickle, or the worker is gone
                future.set_exception(exc)
                if not worker.process.is_alive():
                    self._remove(worker)
                continue
            worker.task, worker.future = task, future
            worker.deadline = (
                None if deadline_seconds is None else time.monotonic() + deadline_seconds
            )

    def _start_worker(self) -> _Worker:
        from kiln.pipelines._worker import worker_main

        parent, child = self._context.Pipe()
        process = self._context.Process(  # type: ignore[attr-defined]
            target=worker_main, args=(child,), name="kiln-step-worker", daemon=False
        )
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _collect(self, worker: _Worker, ready: list[Any]) -> None:
        assert worker.task is not None
        assert worker.future is not None
        task, future = worker.task, worker.future
        if worker.connection in ready or worker.process.sentinel in ready:
            try:
                if worker.connection.poll():
                    outcome = worker.connection.recv()
                    worker.task = worker.future = worker.deadline = None
                    future.set_result(outcome)
                    return
            except (EOFError, OSError):
                pass
            if not worker.process.is_alive() or worker.process.sentinel in ready:
                worker.process.join(timeout=5)
                future.set_exception(
                    StepCrashed(
                        f"the worker process running step {task.invocation!r} died "
                        f"({_exit_reason(worker.process.exitcode)}) before it answered; "
                        "it may have been killed or run out of memory"
                    )
                )
                self._remove(worker)
            return
        if worker.deadline is not None and time.monotonic() >= worker.deadline:
            worker.process.kill()
            worker.process.join(timeout=5)
            future.set_exception(
                StepTimeout(
                    f"step {task.invocation!r} ran past its timeout of {task.timeout:g} s per "
                    "attempt and did not stop, so its worker process was killed"
                )
            )
            self._remove(worker)

    def _remove(self, worker: _Worker) -> None:
        worker.connection.close()
        if worker in self._workers:
            self._workers.remove(worker)

    def _stop(self) -> None:
        with self._lock:
            self._stopping = True
            pending = list(self._pending)
            self._pending.clear()
        for _, _, future in pending:
            if future.set_running_or_notify_cancel():
                future.set_exception(Conflict("the parallel runner was closed before the step ran"))
        for worker in self._workers:
            if worker.future is not None and not worker.future.done():
                worker.future.set_exception(
                    Conflict("the parallel runner was closed while the step ran")
                )
        _stop_all(self._workers)
        self._workers.clear()


def _stop_all(workers: list[_Worker]) -> None:
    """Ask idle workers to exit, stop busy ones, and reap them all."""
    for worker in workers:
        try:
            if worker.task is None:
                worker.connection.send(None)
            else:
                worker.process.terminate()
        except (OSError, ValueError):
            pass
    for worker in workers:
        worker.process.join(timeout=5)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(timeout=5)
        with contextlib.suppress(OSError):
            worker.connection.close()


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"
