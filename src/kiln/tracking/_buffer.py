"""The in-process log buffer: per-call logging at memory speed, written in batches.

``log_metric`` and friends append to a per-run queue and return. A daemon
thread writes whatever has accumulated every ``interval`` seconds, or at once
when ``max_pending`` items wait; ``flush()`` writes synchronously. One lock
serialises writers, so points reach the store in the order they were logged.
A batch that the store refuses (the run ended elsewhere, a param clash) is
reported by the next call on that run, never dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from kiln.errors import KilnError
from kiln.tracking._entities import Metric, Param

log = logging.getLogger("kiln.tracking")


@dataclass
class _Pending:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.metrics) + len(self.params) + len(self.tags)


#: Writes one run's batch: (run_id, metrics, params, tags).
Writer = Callable[[str, list[Metric], list[Param], list[tuple[str, str]]], None]


class LogBuffer:
    """Batches tracking data per run and writes it from a background thread."""

    def __init__(
        self,
        *,
        interval: float = 0.2,
        max_pending: int = 10_000,
        chunk: int = 10_000,
    ) -> None:
        self.interval = interval
        self.max_pending = max_pending
        self.chunk = chunk
        self._pending: dict[str, _Pending] = {}
        self._writers: dict[str, Writer] = {}
        self._errors: dict[str, KilnError] = {}
        self._size = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- producing -------------------------------------------------------------
    def add(
        self,
        run_id: str,
        writer: Writer,
        *,
        metrics: list[Metric] | None = None,
        params: list[Param] | None = None,
        tags: list[tuple[str, str]] | None = None,
    ) -> None:
        """Queue data for ``run_id``; raises a refusal from an earlier batch of this run."""
        self.raise_error(run_id)
        with self._lock:
            pending = self._pending.setdefault(run_id, _Pending())
            self._writers[run_id] = writer
            before = len(pending)
            if metrics:
                pending.metrics.extend(metrics)
            if params:
                pending.params.extend(params)
            if tags:
                pending.tags.extend(tags)
            self._size += len(pending) - before
            if self._thread is None:
                self._start()
            if self._size >= self.max_pending:
                self._wake.notify()

    def raise_error(self, run_id: str) -> None:
        """Raise (once) the error a background write of ``run_id`` hit."""
        error = self._errors.pop(run_id, None)
        if error is not None:
            raise error

    # -- writing ---------------------------------------------------------------
    def flush(self, run_id: str | None = None) -> None:
        """Write what is pending (for one run, or all) now, then raise any refusal."""
        self._write(run_id)
        if run_id is not None:
            self.raise_error(run_id)
        else:
            for pending_run in list(self._errors):
                self.raise_error(pending_run)

    def take(self, run_id: str) -> tuple[list[Metric], list[Param], list[tuple[str, str]]]:
        """Remove and return what is pending for ``run_id`` (the caller writes it).

        Waits for a background write of the run in progress, so nothing is
        written out of order.
        """
        self.raise_error(run_id)
        with self._flush_lock:
            # A background write that was in progress may have been refused meanwhile.
            self.raise_error(run_id)
            taken = self._take(run_id)
        if not taken:
            return [], [], []
        _, _, pending = taken[0]
        return pending.metrics, pending.params, pending.tags

    def _take(self, run_id: str | None) -> list[tuple[str, Writer, _Pending]]:
        with self._lock:
            run_ids = [run_id] if run_id is not None else list(self._pending)
            taken = []
            for rid in run_ids:
                pending = self._pending.pop(rid, None)
                if pending is not None and len(pending):
                    self._size -= len(pending)
                    taken.append((rid, self._writers[rid], pending))
            return taken

    def _write(self, run_id: str | None) -> None:
        with self._flush_lock:
            for rid, writer, pending in self._take(run_id):
                try:
                    self._write_run(rid, writer, pending)
                except KilnError as error:
                    self._errors[rid] = error
                except Exception as error:  # a store outage: report it on the next call
                    log.exception("writing tracking data of run %s failed", rid)
                    self._errors[rid] = KilnError(
                        f"tracking data of run {rid} could not be written: {error}"
                    )

    def _write_run(self, run_id: str, writer: Writer, pending: _Pending) -> None:
        metrics, params, tags = pending.metrics, pending.params, pending.tags
        if len(metrics) <= self.chunk:
            try:
                writer(run_id, metrics, params, tags)  # the common case: one transaction
                return
            except KilnError:
                if not params or not (metrics or tags):
                    raise
            # A refused param must not take the metrics down with it: write apart.
        for start in range(0, max(len(metrics), 1), self.chunk):
            part = metrics[start : start + self.chunk]
            if part or (start == 0 and tags):
                writer(run_id, part, [], tags if start == 0 else [])
        if params:
            writer(run_id, [], params, [])

    # -- the background thread -------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="kiln-log-buffer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(
                    lambda: self._size >= self.max_pending or self._closed, timeout=self.interval
                )
                closed = self._closed
            self._write(None)
            if closed:
                return

    def close(self) -> None:
        """Write everything and stop the thread (at interpreter exit)."""
        with self._lock:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._write(None)
