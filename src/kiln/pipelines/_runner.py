"""``Runner``: where step tasks execute. The engine decides what runs when.

A runner is one abstract method, ``submit(task, store)`` returning a
``concurrent.futures.Future`` of the :class:`StepOutcome`, plus optional
hooks: ``open``/``close`` around a batch of runs, ``check`` to refuse a step
before anything runs, and ``cpu_budget`` for runners whose backend does not
schedule by itself. A future that raises (instead of returning an outcome)
marks the step FAILED with that error: that is how a runner reports a worker
that died.

The registry is a table of name → ``"module:Class"`` (``sequential``,
``parallel``, and ``ray``, whose ``submit`` is a remote call of
:func:`~kiln.pipelines._execute.execute_task` with
``num_cpus``/``num_gpus``/``memory`` from ``task.resources``; its module
imports Ray only when the runner is built); other packages add runners
through the ``kiln.runners`` entry-point group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from kiln._plugins import entry_point_table, plugin_class
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._step import Step
    from kiln.pipelines._task import StepOutcome, StepTask

__all__ = ["BUILTIN_RUNNERS", "RUNNERS_ENTRY_POINT_GROUP", "Runner", "get_runner", "known_runners"]

#: Entry-point group through which other packages add runners ("module:Class").
RUNNERS_ENTRY_POINT_GROUP = "kiln.runners"

BUILTIN_RUNNERS: dict[str, str] = {
    "sequential": "kiln.pipelines._sequential:SequentialRunner",
    "parallel": "kiln.pipelines._parallel:ParallelRunner",
    "ray": "kiln.pipelines._ray:RayRunner",
}


class Runner(ABC):
    """Executes the step tasks the engine submits; see the module docstring.

    The constructor only stores options. The engine calls :meth:`open`
    before its first ``submit`` and, for runners it created itself,
    :meth:`close` at the end; a runner passed in as an instance stays open
    for further runs until its owner closes it (``with runner: ...``).
    """

    name: ClassVar[str]

    def open(self) -> None:  # noqa: B027  (optional hook, empty by default)
        """Acquire what ``submit`` needs (workers, a cluster connection); idempotent."""

    def close(self) -> None:  # noqa: B027  (optional hook, empty by default)
        """Release it; running tasks may be stopped."""

    def check(self, step: Step[Any, Any]) -> None:  # noqa: B027  (optional hook)
        """Raise :class:`~kiln.errors.InvalidInput` for a step this runner cannot execute."""

    def cpu_budget(self) -> float | None:
        """CPUs the engine may keep busy at once (by ``resources.cpu``); None: no limit."""
        return None

    @abstractmethod
    def submit(self, task: StepTask, store: ArtifactStore) -> Future[StepOutcome]:
        """Start ``task``; the future gives its outcome (or raises if it could not run)."""

    def __enter__(self) -> Runner:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _table() -> dict[str, str]:
    installed = entry_point_table(RUNNERS_ENTRY_POINT_GROUP)
    third_party = {name: value for name, value in installed.items() if name not in BUILTIN_RUNNERS}
    return BUILTIN_RUNNERS | dict(sorted(third_party.items()))


def known_runners() -> list[str]:
    """Every runner name available here: the built-ins, then entry points."""
    return list(_table())


def get_runner(name: str, **options: Any) -> Runner:
    """A new runner called ``name``, built with ``options``."""
    table = _table()
    target = table.get(name)
    if target is None:
        raise InvalidInput(
            f"unknown runner {name!r}; known runners: {', '.join(table)} (others come from "
            f"packages declaring a {RUNNERS_ENTRY_POINT_GROUP!r} entry point)",
            field="runner",
        )
    runner: Runner = plugin_class(target, Runner, f"the {name} runner")(**options)
    return runner
