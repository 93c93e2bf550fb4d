"""Adaptive micro-batching: concurrent requests to one model share one ``predict`` call.

Each model (and method) has one worker thread and a bounded queue. A request
joins the queue and waits. When the worker is free it takes every queued
request, up to ``max_batch_size`` rows, concatenates their columns with
NumPy, calls the model once and hands each request its slice of the output.

So batches adapt to the load by themselves: alone, a request is run at once
(no added latency at concurrency 1); under load, the requests that arrive
while the model is busy are run together next, and the batch grows with the
arrival rate. ``max_wait_ms`` > 0 also holds a batch that is not full for up
to that long to collect more rows, trading latency for throughput.

The queue is bounded in rows (``max_queue_rows``): a request that would
pass it raises ``Overloaded`` at once — the server answers 503 with
``Retry-After`` — so memory never grows with a backlog. A request larger
than ``max_batch_size`` runs alone. A model error fails only the requests of
that batch.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kiln.errors import Unavailable
from kiln.serving._inputs import Rows

__all__ = ["BatchStats", "MicroBatcher", "Overloaded"]


class Overloaded(Unavailable):
    """The model's queue is full: retry after a moment."""

    error_code = "OVERLOADED"


@dataclass
class BatchStats:
    """What the batcher did, for ``/metrics``: batches run, their sizes, the queue now."""

    batches: int = 0
    rows: int = 0
    requests: int = 0
    rejected: int = 0
    queued_rows: int = 0
    #: Batch sizes in rows, bucketed by the caller (a Prometheus histogram observes them).
    observers: list[Callable[[int], None]] = field(default_factory=list)


@dataclass
class _Pending:
    rows: Rows
    future: asyncio.Future[Any]


def concatenate(parts: list[Rows]) -> Rows:
    """One ``Rows`` of several requests' rows, in order."""
    import numpy as np

    if len(parts) == 1:
        return parts[0]
    first = parts[0]
    columns = {
        name: np.concatenate([part.columns[name] for part in parts]) for name in first.columns
    }
    return Rows(columns, sum(part.count for part in parts), first.kind)


def split(output: Any, counts: list[int]) -> list[Any]:
    """Each request's slice of a batch's output (an array, or a dict of arrays)."""
    import numpy as np

    if len(counts) == 1:
        return [output]
    bounds = np.cumsum(counts)[:-1]
    if isinstance(output, dict):
        pieces = {name: np.split(np.asarray(values), bounds) for name, values in output.items()}
        return [{name: pieces[name][i] for name in output} for i in range(len(counts))]
    return list(np.split(np.asarray(output), bounds))


class MicroBatcher:
    """Runs ``call(rows)`` for batches of queued requests on one worker thread."""

    def __init__(
        self,
        call: Callable[[Rows], Any],
        *,
        name: str,
        max_batch_size: int = 64,
        max_wait_ms: float = 0.0,
        max_queue_rows: int = 4096,
        enabled: bool = True,
    ) -> None:
        self._call = call
        self.name = name
        self.max_batch_size = max(1, int(max_batch_size))
        self.max_wait = max(0.0, float(max_wait_ms)) / 1000.0
        self.max_queue_rows = max(self.max_batch_size, int(max_queue_rows))
        self.enabled = enabled
        self.stats = BatchStats()
        self._queue: deque[_Pending] = deque()
        self._busy = False
        self._drainer: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"kiln-model-{name}")

    async def submit(self, rows: Rows) -> Any:
        """The model's output for ``rows``, once its batch has run."""
        loop = asyncio.get_running_loop()
        if not self.enabled:
            self.stats.requests += 1
            output = await loop.run_in_executor(self._executor, self._call, rows)
            self._count(rows.count)
            return output
        if self.stats.queued_rows + rows.count > self.max_queue_rows:
            self.stats.rejected += 1
            raise Overloaded(
                f"model {self.name!r} has {self.stats.queued_rows} rows queued (the limit is "
                f"{self.max_queue_rows}); retry in a moment"
            )
        pending = _Pending(rows, loop.create_future())
        self._queue.append(pending)
        self.stats.queued_rows += rows.count
        self.stats.requests += 1
        if not self._busy:
            self._busy = True
            self._drainer = loop.create_task(self._drain())
        return await pending.future

    @property
    def busy(self) -> bool:
        """Whether a batch is running or queued."""
        return self._busy

    def _take(self) -> list[_Pending]:
        """The requests of the next batch: at least one, up to ``max_batch_size`` rows."""
        taken = [self._queue.popleft()]
        size = taken[0].rows.count
        while self._queue and size + self._queue[0].rows.count <= self.max_batch_size:
            item = self._queue.popleft()
            taken.append(item)
            size += item.rows.count
        return taken

    async def _drain(self) -> None:
        """Run batches until the queue is empty (one drain task at a time per batcher)."""
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                if self.max_wait and self._queued() < self.max_batch_size:
                    deadline = time.monotonic() + self.max_wait
                    while self._queued() < self.max_batch_size and time.monotonic() < deadline:
                        await asyncio.sleep(min(0.0005, deadline - time.monotonic()))
                batch = self._take()
                counts = [item.rows.count for item in batch]
                self.stats.queued_rows -= sum(counts)
                try:
                    output = await loop.run_in_executor(
                        self._executor, self._run, [item.rows for item in batch]
                    )
                    pieces = split(output, counts)
                    self._count(sum(counts))
                except Exception as error:  # the model failed: fail this batch's requests only
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(error)
                    continue
                for item, piece in zip(batch, pieces, strict=True):
                    if not item.future.done():
                        item.future.set_result(piece)
        finally:
            self._busy = False

    def _queued(self) -> int:
        return sum(item.rows.count for item in self._queue)

    def _run(self, parts: list[Rows]) -> Any:
        return self._call(concatenate(parts))

    def _count(self, rows: int) -> None:
        self.stats.batches += 1
        self.stats.rows += rows
        for observe in self.stats.observers:
            observe(rows)

    def close(self) -> None:
        """Stop the worker thread after the batch it is running."""
        self._executor.shutdown(wait=True, cancel_futures=True)
