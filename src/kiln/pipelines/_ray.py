"""``RayRunner``: every step a Ray task, on this machine or on a Ray cluster.

``submit`` sends the :class:`StepTask` to :func:`_execute_in_worker`, a
remote function that opens the artifact store at ``task.artifact_location``
and calls :func:`~kiln.pipelines._execute.execute_task` there, so the Ray
runner gives the same outcomes and records as the local runners. Ray
schedules by the step's resources (``num_cpus``, ``num_gpus`` and
``memory`` from ``task.resources``), so :meth:`RayRunner.cpu_budget` is
None. Ray's own retries are off (``max_retries=0``): Kiln retries a step's
attempts inside ``execute_task``, and a worker that dies must fail its step
rather than run it again behind the engine's back.

Ray is imported only here, and only when a ``RayRunner`` is built: neither
``import kiln`` nor ``import kiln.pipelines`` loads it, and without Ray the
runner says which extra to install.

Shipping steps: a step function importable as ``module:qualname`` travels
as that string and the worker imports it (as in the parallel runner); any
other function (a lambda, a function defined inside another, a step in a
``__main__`` script or notebook) travels by value through Ray's
cloudpickle, which handles closures. ``check`` refuses only what cloudpickle
cannot serialise.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kiln.errors import Conflict, InvalidInput, KilnError, NotFound
from kiln.pipelines._entities import StepCrashed, StepTimeout
from kiln.pipelines._runner import Runner
from kiln.pipelines._step import reference

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._materializer import Materializers
    from kiln.pipelines._resources import Resources
    from kiln.pipelines._step import Step
    from kiln.pipelines._task import StepOutcome, StepTask

__all__ = ["INSTALL_HINT", "RayRunner"]

#: What to run when Ray is missing.
INSTALL_HINT = "pip install 'kiln-ml[ray]'"


def import_ray() -> ModuleType:
    """The ``ray`` module, or :class:`~kiln.errors.NotFound` naming the extra to install."""
    try:
        import ray
    except ImportError as exc:
        raise NotFound(
            f"the ray runner needs Ray, which cannot be imported here ({exc}); install it with "
            f"{INSTALL_HINT} (or use runner='parallel' on this machine)"
        ) from None
    return ray


class RayRunner(Runner):
    """Runs each step as a Ray task with the step's CPUs, GPUs and memory.

    ``address`` and ``init_options`` go to ``ray.init`` when :meth:`open`
    finds Ray not initialised in this process: ``RayRunner()`` starts a
    local Ray instance, ``RayRunner(address="ray://head:10001")`` (or
    ``"auto"``) connects to a cluster. When Ray is already initialised (the
    caller ran ``ray.init``), that connection is used, and giving
    ``address`` or options as well is refused as ambiguous. :meth:`close`
    cancels this runner's unfinished tasks and shuts Ray down only if
    :meth:`open` started it.

    ``kill_grace``: how long past its timeouts (all attempts and back-offs)
    a step may go before its Ray task is force-cancelled, which kills its
    worker; this stops a step whose code blocks the in-worker alarm.

    ``autoscaling``: a step that asks for more than any node of the cluster
    has is failed at once with a message saying so, since Ray would
    otherwise queue it forever; set it for a cluster whose autoscaler adds
    nodes on demand, where such a step waits for one.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        kill_grace: float = 5.0,
        autoscaling: bool = False,
        **init_options: Any,
    ) -> None:
        self._ray = import_ray()
        if not isinstance(kill_grace, int | float) or kill_grace < 0:
            raise InvalidInput(f"kill_grace must be a number of seconds, got {kill_grace!r}")
        self.address = address
        self.kill_grace = float(kill_grace)
        self.autoscaling = autoscaling
        self.init_options = init_options
        self._owned = False
        self._opened = False
        self._lock = threading.Lock()
        self._running: dict[Any, _Pending] = {}
        self._fits: dict[tuple[float, float, int | None], bool] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        ray = self._ray
        if self._opened and ray.is_initialized():
            return
        self._owned = False  # whoever shut Ray down since, it is not ours to stop any more
        if ray.is_initialized():
            if self.address is not None or self.init_options:
                raise Conflict(
                    "Ray is already initialised in this process, so RayRunner cannot connect "
                    "with its own address or init options; build it without them to use that "
                    "connection, or call ray.shutdown() first"
                )
        else:
            ray.init(address=self.address, **self.init_options)
            self._owned = True
        self._opened = True
        self._fits.clear()

    def close(self) -> None:
        with self._lock:
            pending = list(self._running.values())
            self._running.clear()
        for item in pending:
            item.settle(error=Conflict("the Ray runner was closed while the step ran"))
            with contextlib.suppress(Exception):  # finished already, or Ray is gone
                self._ray.cancel(item.ref, force=True)
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
        self._owned = False
        self._opened = False

    # -- checks --------------------------------------------------------------------------

    def check(self, step: Step[Any, Any]) -> None:
        """Refuse a step Ray cannot ship or schedule, before anything runs."""
        if _reference_or_none(step.fn, step.name) is None:
            try:
                self._ray.cloudpickle.dumps(step.fn)
            except Exception as exc:
                raise InvalidInput(
                    f"step {step.name!r} cannot be sent to Ray workers: cloudpickle cannot "
                    f"serialise it ({type(exc).__name__}: {exc}); define it at module level, or "
                    "keep what it captures picklable"
                ) from None
        try:
            _remote().options(**_ray_options(step.resources))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"step {step.name!r}: Ray refuses its resources: {exc}") from None
        if self._ray.is_initialized() and not self.autoscaling:
            problem = self._infeasible(step.resources, step.name)
            if problem is not None:
                raise InvalidInput(problem)

    def cpu_budget(self) -> float | None:
        return None  # Ray schedules by each task's resources

    def _infeasible(self, resources: Resources, name: str) -> str | None:
        """Why no alive node can run a step with ``resources``, or None when one can."""
        key = (resources.cpu, resources.gpu, resources.memory)
        if self._fits.get(key):
            return None
        nodes: list[dict[str, float]] = [
            node.get("Resources", {}) for node in self._ray.nodes() if node.get("Alive")
        ]

        def fits(node: dict[str, float]) -> bool:
            return (
                resources.cpu <= node.get("CPU", 0.0)
                and resources.gpu <= node.get("GPU", 0.0)
                and (resources.memory is None or resources.memory <= node.get("memory", 0.0))
            )

        if any(fits(node) for node in nodes):
            self._fits[key] = True
            return None
        largest: dict[str, float] = max(
            nodes,
            key=lambda n: (n.get("CPU", 0.0), n.get("GPU", 0.0), n.get("memory", 0.0)),
            default={},
        )
        asked = f"{resources.cpu:g} CPUs, {resources.gpu:g} GPUs" + (
            f", {resources.memory} bytes of memory" if resources.memory is not None else ""
        )
        has = (
            f"{largest.get('CPU', 0.0):g} CPUs, {largest.get('GPU', 0.0):g} GPUs, "
            f"{int(largest.get('memory', 0.0))} bytes of memory"
            if nodes
            else "no alive node"
        )
        return (
            f"step {name!r} asks for {asked} and no node of the Ray cluster has that (the "
            f"largest has {has}), so Ray would queue it forever; lower its resources, add a "
            "larger node, or pass RayRunner(autoscaling=True) if an autoscaler adds one"
        )

    # -- submitting ----------------------------------------------------------------------

    def submit(self, task: StepTask, store: ArtifactStore) -> Future[StepOutcome]:
        self.open()
        outcome: Future[StepOutcome] = Future()
        if not self.autoscaling:
            problem = self._infeasible(task.resources, task.invocation)
            if problem is not None:
                outcome.set_exception(InvalidInput(problem))
                return outcome
        if callable(task.function):
            shipped = _reference_or_none(task.function, task.step)
            if shipped is not None:
                task = replace(task, function=shipped)
        try:
            ref = (
                _remote()
                .options(
                    **_ray_options(task.resources),
                    max_retries=0,
                    retry_exceptions=False,
                    name=f"kiln:{task.invocation}",
                )
                .remote(task)
            )
        except Exception as exc:  # the task did not serialise, or Ray refused it
            outcome.set_exception(exc)
            return outcome
        pending = _Pending(task, ref, outcome)
        with self._lock:
            self._running[ref] = pending
        deadline = task.deadline_seconds(self.kill_grace)
        if deadline is not None:
            pending.timer = threading.Timer(deadline, self._overran, args=(pending,))
            pending.timer.daemon = True
            pending.timer.start()
        ref.future().add_done_callback(lambda done: self._resolved(pending, done))
        return outcome

    def _resolved(self, pending: _Pending, done: Future[Any]) -> None:
        with self._lock:
            self._running.pop(pending.ref, None)
        if pending.timer is not None:
            pending.timer.cancel()
        try:
            pending.settle(result=done.result())
        except Exception as exc:
            pending.settle(error=_translate(exc, pending.task))

    def _overran(self, pending: _Pending) -> None:
        task = pending.task
        settled = pending.settle(
            error=StepTimeout(
                f"step {task.invocation!r} ran past its timeout of {task.timeout or 0:g} s per "
                "attempt and did not stop, so its Ray task was cancelled and its worker killed"
            )
        )
        if settled:
            with contextlib.suppress(Exception):  # it finished meanwhile
                self._ray.cancel(pending.ref, force=True)


class _Pending:
    """One submitted task: its Ray reference, the engine's future and its watchdog."""

    def __init__(self, task: StepTask, ref: Any, future: Future[StepOutcome]) -> None:
        self.task = task
        self.ref = ref
        self.future = future
        self.timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def settle(
        self, *, result: StepOutcome | None = None, error: BaseException | None = None
    ) -> bool:
        """Resolve the future once (Ray's answer, the watchdog or ``close``); True if this did."""
        with self._lock:
            if self.future.done():
                return False
            try:
                if error is not None:
                    self.future.set_exception(error)
                else:
                    self.future.set_result(result)  # type: ignore[arg-type]
            except InvalidStateError:
                return False
            return True


def _translate(exc: BaseException, task: StepTask) -> BaseException:
    """A Kiln error for what Ray raised instead of an outcome; the engine records its message."""
    from ray import exceptions

    step = task.invocation
    if isinstance(exc, exceptions.OutOfMemoryError):
        return StepCrashed(
            f"Ray's memory monitor killed the worker running step {step!r} because its node ran "
            "low on memory; give the step resources={'memory': ...} so Ray places it where "
            f"there is room, or use a larger node ({_first_line(exc)})"
        )
    if isinstance(exc, exceptions.WorkerCrashedError):
        return StepCrashed(
            f"the Ray worker process running step {step!r} died before it answered; it may have "
            "been killed (e.g. by SIGKILL or the kernel's out-of-memory killer) or crashed in "
            "native code; the worker's logs are in the Ray session's logs folder"
        )
    if isinstance(exc, exceptions.NodeDiedError | exceptions.LocalRayletDiedError):
        return StepCrashed(
            f"the Ray node running step {step!r} died before the step answered ({_first_line(exc)})"
        )
    if isinstance(exc, exceptions.TaskCancelledError):
        return Conflict(f"the Ray task of step {step!r} was cancelled before it answered")
    if isinstance(exc, exceptions.RayTaskError):
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        detail = f"{type(cause).__name__}: {_first_line(cause)}"
        if isinstance(cause, ImportError):
            return NotFound(
                f"the Ray worker could not load step {step!r} ({detail}); every node needs the "
                "step's code and Kiln installed (or pass runtime_env={'working_dir': ...} to "
                "RayRunner)"
            )
        return KilnError(f"the Ray worker failed to run step {step!r} ({detail})")
    return exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _reference_or_none(fn: Any, step_name: str) -> str | None:
    """``module:qualname`` when a worker can import ``fn`` by it; None to ship it by value."""
    if getattr(fn, "__module__", None) == "__main__":  # a worker's __main__ is Ray's, not ours
        return None
    try:
        return reference(fn, step_name)
    except InvalidInput:
        return None


def _ray_options(resources: Resources) -> dict[str, Any]:
    options: dict[str, Any] = {"num_cpus": resources.cpu, "num_gpus": resources.gpu}
    if resources.memory is not None:
        options["memory"] = resources.memory
    return options


_REMOTE: Any = None


def _remote() -> Any:
    """The remote version of :func:`_execute_in_worker`, made once per process."""
    global _REMOTE
    if _REMOTE is None:
        _REMOTE = import_ray().remote(_execute_in_worker)
    return _REMOTE


# -- the worker side ---------------------------------------------------------------------

_STORES: dict[str, ArtifactStore] = {}
_MATERIALIZERS: list[Materializers] = []


def _execute_in_worker(task: StepTask) -> StepOutcome:
    """Execute ``task`` in a Ray worker, like a parallel-runner worker does.

    Stores and materializers are opened once per worker process and kept, as
    Ray reuses workers. File descriptors 1 and 2 are captured, so output of
    C code is recorded too (it does not reach Ray's worker log). Ray runs a
    task on its worker's main thread, so timeouts use ``SIGALRM``.
    """
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._execute import execute_task
    from kiln.pipelines._materializer import Materializers

    store = _STORES.get(task.artifact_location)
    if store is None:
        store = _STORES[task.artifact_location] = ArtifactStore.from_location(
            task.artifact_location
        )
    if not _MATERIALIZERS:
        _MATERIALIZERS.append(Materializers.discover())
    return execute_task(task, store, _MATERIALIZERS[0], capture_descriptors=True)
