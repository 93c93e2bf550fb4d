"""The loop of a parallel-runner worker process: receive a task, execute it, answer.

Kept apart from ``_parallel`` so that a new worker imports only what
executing a task needs. The worker ignores Ctrl-C (its parent decides when
workers stop) and exits when its connection closes or sends ``None``.
"""

from __future__ import annotations

import signal
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from kiln.pipelines._execute import execute_task
from kiln.pipelines._materializer import Materializers

if TYPE_CHECKING:
    from kiln.artifacts import ArtifactStore
    from kiln.pipelines._task import StepTask

__all__ = ["worker_main"]


def worker_main(connection: Connection) -> None:
    """Serve tasks from ``connection`` until it closes or sends ``None``."""
    from kiln.artifacts import ArtifactStore

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stores: dict[str, ArtifactStore] = {}
    materializers = Materializers.discover()
    while True:
        try:
            task: StepTask | None = connection.recv()
        except (EOFError, OSError):
            break
        if task is None:
            break
        store = stores.get(task.artifact_location)
        if store is None:
            store = stores[task.artifact_location] = ArtifactStore.from_location(
                task.artifact_location
            )
        outcome = execute_task(task, store, materializers, capture_descriptors=True)
        try:
            connection.send(outcome)
        except (BrokenPipeError, OSError):
            break
    connection.close()
