"""``SequentialRunner``: every step in this process, one after the other (the default)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from kiln.pipelines._execute import execute_task
from kiln.pipelines._materializer import Materializers
from kiln.pipelines._runner import Runner

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._task import StepOutcome, StepTask

__all__ = ["SequentialRunner"]


class SequentialRunner(Runner):
    """Runs each task inside ``submit``, in this process and thread.

    Outputs of the current run stay in memory for the steps that consume
    them (besides being stored), so a step receives the very object its
    upstream step returned: do not change an input in place. Output printed by Python code is
    captured and still printed; timeouts interrupt the step with ``SIGALRM``
    on the main thread, and abandon a helper thread elsewhere (see
    ``kiln.pipelines._capture``).
    """

    name = "sequential"

    def __init__(self) -> None:
        self._materializers: Materializers | None = None
        self._values: dict[str, Any] = {}
        self._run_id = ""

    def open(self) -> None:
        if self._materializers is None:
            self._materializers = Materializers.discover()

    def close(self) -> None:
        self._values.clear()

    def submit(self, task: StepTask, store: ArtifactStore) -> Future[StepOutcome]:
        self.open()
        assert self._materializers is not None
        if task.run_id != self._run_id:  # keep only the current run's values alive
            self._values.clear()
            self._run_id = task.run_id
        future: Future[StepOutcome] = Future()
        try:
            future.set_result(execute_task(task, store, self._materializers, values=self._values))
        except Exception as exc:  # a fault of Kiln's own; the engine records it on the step
            future.set_exception(exc)
        return future
