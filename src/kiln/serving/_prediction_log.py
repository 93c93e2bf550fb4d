"""The prediction log: every request a server answers, recorded in memory, written in batches.

::

    record(rec)   request path: append to a bounded list under a lock; no I/O,
      │           no database, never raises, never blocks on a write
      ▼
    flusher thread, every flush_seconds or at flush_rows pending
      │   1. records → one Arrow table per deployment     _predictions_format
      │   2. table → Parquet blob in the artifact store   (content-addressed)
      │   3. one transaction indexes every stored blob    _predictions_index
      ▼
    prediction_batches rows ──► read_predictions, export_dataset

Once a batch is indexed, each *listener* is called with its deployment and
table, in the flusher thread: Kiln's own ``kiln.labeling`` watches turn
unsure answers into labeling tasks this way, and any installed package can
add one under the ``kiln.prediction_listeners`` entry-point group (a
factory ``(context, project) -> listener | None``). A listener that raises
is logged and counted in ``listener_errors``; the log goes on.

A blob is indexed only once it is stored, so no index row names a missing
blob; a crash between the two leaves an unreferenced blob that ``kiln gc``
removes. A batch whose write fails (database down, disk full) is kept with
the step it reached and retried, with back-off, from that step; a retried
index insert that had committed already changes nothing. Requests being
written or kept for a retry count against ``max_buffer`` with the buffered
ones, so memory stays bounded while the stores are down: once full,
``record`` drops new records and counts them in ``dropped``. Nothing on
the request path waits for a write: ``record`` and the flusher share one
lock only to append or to swap the buffer for an empty one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kiln.db import utcnow
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.artifacts import Blob
    from kiln.context import Context
    from kiln.serving._predictions_format import Built

__all__ = [
    "LISTENER_GROUP",
    "PredictionListener",
    "PredictionLog",
    "PredictionLogStats",
    "PredictionRecord",
    "installed_listeners",
]

log = logging.getLogger("kiln.serving.prediction_log")

#: The longest wait between retries while the stores keep failing.
MAX_BACKOFF_SECONDS = 60.0
#: The entry-point group of prediction listener factories.
LISTENER_GROUP = "kiln.prediction_listeners"

#: Called with a deployment's name and a batch of its logged requests, once indexed.
PredictionListener = Callable[[str, "pa.Table"], None]


def installed_listeners(context: Context, project: str) -> list[PredictionListener]:
    """The listeners the installed packages' ``kiln.prediction_listeners`` factories make.

    A factory that fails is logged and skipped: a broken plug-in must not
    stop a model server from serving.
    """
    from importlib.metadata import entry_points

    listeners: list[PredictionListener] = []
    for entry in entry_points(group=LISTENER_GROUP):
        try:
            made = entry.load()(context, project)
        except Exception:
            log.exception("prediction listener %s could not start; left out", entry.value)
            continue
        if made is not None:
            listeners.append(made)
    return listeners


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One answered request, as the server hands it to :meth:`PredictionLog.record`.

    ``inputs`` maps each input column to its values (one per row of the
    request), ``outputs`` each output name to its values; lists, NumPy
    arrays and scalars are fine. The log keeps references until it writes
    them, so do not change them after recording. ``time`` is when the
    request arrived, timezone-aware.
    """

    request_id: str
    deployment: str
    #: The registered model's name, or the name the model is served under.
    model: str
    #: The model version, when it is a registered one.
    version: int | None
    #: How the request was routed: ``primary``, ``shadow``, ``canary``, ``bandit``, ...
    route: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    n_rows: int
    latency_ms: float
    #: The HTTP status answered.
    status: int = 200
    error: str | None = None
    time: datetime = field(default_factory=utcnow)


@dataclass(frozen=True, slots=True)
class PredictionLogStats:
    """The log's counters, for ``/metrics``; each counts requests, except ``write_errors``."""

    #: Recorded, waiting for the next flush.
    buffered: int
    #: Taken from the buffer and not written yet: being written, or kept for a retry.
    retained: int
    #: Stored and indexed.
    written: int
    #: Refused by ``record``: the buffer was full, or the log closed.
    dropped: int
    #: Left out at flush because a field had the wrong type (logged).
    invalid: int
    #: Blobs indexed.
    batches: int
    #: Failed attempts to store or index a flush.
    write_errors: int
    #: Calls of a listener that raised (each logged).
    listener_errors: int = 0


@dataclass
class _Batch:
    """One deployment's records of one flush, as far as writing them got."""

    deployment: str
    built: Built
    blob: Blob | None = None

    @property
    def rows(self) -> int:
        return int(self.built.table.num_rows)


class PredictionLog:
    """A buffered, asynchronous writer of one project's prediction log.

    ``max_buffer`` bounds the requests held in memory (buffered, being
    written, or kept for a retry); ``flush_rows`` pending requests, or ``flush_seconds``
    since the last flush, trigger a write. ``listeners`` are told of each
    indexed batch (see the module docstring). The constructor only stores its
    arguments; the flusher thread starts with the first ``record``. Call
    :meth:`close` on shutdown: a daemon thread does not outlive the
    process, and what it still holds then is lost.
    """

    def __init__(
        self,
        context: Context,
        *,
        project: str,
        max_buffer: int = 100_000,
        flush_rows: int = 10_000,
        flush_seconds: float = 1.0,
        listeners: Sequence[PredictionListener] = (),
    ) -> None:
        if not isinstance(max_buffer, int) or max_buffer < 1:
            raise InvalidInput(
                f"max_buffer must be 1 or more, got {max_buffer!r}", field="max_buffer"
            )
        if not isinstance(flush_rows, int) or flush_rows < 1:
            raise InvalidInput(
                f"flush_rows must be 1 or more, got {flush_rows!r}", field="flush_rows"
            )
        if not flush_seconds > 0:
            raise InvalidInput(
                f"flush_seconds must be more than 0, got {flush_seconds!r}", field="flush_seconds"
            )
        self.context = context
        self.project = project
        self.max_buffer = max_buffer
        self.flush_rows = flush_rows
        self.flush_seconds = float(flush_seconds)
        self.listeners = list(listeners)
        self._buffer: list[PredictionRecord] = []
        self._retained: list[_Batch] = []
        self._retained_rows = 0
        self._counts = dict.fromkeys(
            ("written", "dropped", "invalid", "batches", "write_errors", "listener_errors"), 0
        )
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PredictionLog(project={self.project!r}, max_buffer={self.max_buffer})"

    def record(self, rec: PredictionRecord) -> bool:
        """Queue ``rec`` for the next flush; False when it was dropped (buffer full, or closed)."""
        with self._lock:
            if self._closed or len(self._buffer) + self._retained_rows >= self.max_buffer:
                self._counts["dropped"] += 1
                return False
            self._buffer.append(rec)
            pending = len(self._buffer)
            if self._thread is None:
                self._start()
        if pending == self.flush_rows:
            self._wake.set()
        return True

    def stats(self) -> PredictionLogStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return PredictionLogStats(
                buffered=len(self._buffer), retained=self._retained_rows, **self._counts
            )

    def flush(self) -> int:
        """Write everything pending now, retries included; returns how many requests got written.

        Never raises for a store failure: the batch is kept (see the module
        docstring) and ``write_errors`` counts the attempt.
        """
        return self._write_pending()[0]

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new records, stop the flusher and write what is left (once; idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        self._write_pending()
        lost = self.stats().retained
        if lost:
            log.error("prediction log closed with %d requests it could not write; lost", lost)

    # -- the flusher ------------------------------------------------------------
    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"kiln-prediction-log-{self.project}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        delay = self.flush_seconds
        while not self._stop.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                _, ok = self._write_pending()
            except Exception:  # the flusher must outlive any bug in one flush
                log.exception("prediction log flush failed unexpectedly")
                ok = False
            delay = self.flush_seconds if ok else min(MAX_BACKOFF_SECONDS, delay * 2)
            with self._lock:
                more = len(self._buffer) >= self.flush_rows
            if ok and more:
                self._wake.set()

    def _take(self) -> tuple[list[_Batch], list[PredictionRecord]]:
        """The kept batches and the buffered records; they stay counted until written."""
        with self._lock:
            batches, self._retained = self._retained, []
            taken, self._buffer = self._buffer, []
            self._retained_rows += len(taken)
            return batches, taken

    def _write_pending(self) -> tuple[int, bool]:
        """Build, store and index what is pending; ``(requests written, no failure)``."""
        with self._flush_lock:
            batches, taken = self._take()
            batches.extend(self._build(taken))
            stored, failed = self._store(batches)
            written, index_ok = self._index(stored)
            if not index_ok:
                failed.extend(stored)
            with self._lock:
                self._retained = failed
                self._retained_rows = sum(batch.rows for batch in failed)
            if index_ok:
                self._tell(stored)
            return written, not failed

    def _tell(self, indexed: list[_Batch]) -> None:
        """Hand each indexed batch to every listener; one that raises is logged and counted."""
        for batch in indexed:
            for listener in self.listeners:
                try:
                    listener(batch.deployment, batch.built.table)
                except Exception:
                    log.exception("a prediction listener failed on %r's batch", batch.deployment)
                    self._count("listener_errors", 1)

    def _build(self, records: list[PredictionRecord]) -> list[_Batch]:
        """One table per deployment; records that cannot be written are counted and left out."""
        from kiln.db.tables.serving import DEPLOYMENT_LENGTH

        by_deployment: dict[Any, list[PredictionRecord]] = {}
        for rec in records:
            by_deployment.setdefault(getattr(rec, "deployment", None), []).append(rec)
        batches: list[_Batch] = []
        for deployment, group in by_deployment.items():
            if isinstance(deployment, str) and 0 < len(deployment) <= DEPLOYMENT_LENGTH:
                built, reason = _built(group)
            else:
                built, reason = None, f"bad deployment name {deployment!r}"
            invalid = len(group) if built is None else built.invalid
            if invalid:
                log.warning("prediction log left out %d invalid records (%s)", invalid, reason)
                self._count("invalid", invalid)
            if built is not None:
                batches.append(_Batch(deployment, built))
        return batches

    def _store(self, batches: list[_Batch]) -> tuple[list[_Batch], list[_Batch]]:
        """Put each batch's blob (unless a failed flush stored it); ``(stored, failed)``."""
        from kiln.serving._predictions_format import store_table

        stored: list[_Batch] = []
        failed: list[_Batch] = []
        for batch in batches:
            if batch.blob is None:
                try:
                    batch.blob = store_table(self.context.artifacts, batch.built.table)
                except Exception as error:  # disk full, bucket unreachable: retry later
                    log.warning(
                        "prediction log could not store %d requests of %r (%s); will retry",
                        batch.rows,
                        batch.deployment,
                        error,
                    )
                    self._count("write_errors", 1)
                    failed.append(batch)
                    continue
            stored.append(batch)
        return stored, failed

    def _index(self, stored: list[_Batch]) -> tuple[int, bool]:
        """Index the stored blobs in one transaction; ``(requests written, succeeded)``."""
        from kiln.serving._predictions_index import NewBatch, insert_batches

        if not stored:
            return 0, True
        new = [
            NewBatch(
                deployment=batch.deployment,
                digest=batch.blob.digest,
                size=batch.blob.size,
                rows=batch.rows,
                input_rows=batch.built.input_rows,
                first_time=batch.built.first_time,
                last_time=batch.built.last_time,
            )
            for batch in stored
            if batch.blob is not None
        ]
        try:
            self.context.db.run(insert_batches, self.project, new)
        except Exception as error:  # database down or refusing: keep the blobs' batches
            log.warning(
                "prediction log could not index %d batches (%s); will retry", len(new), error
            )
            self._count("write_errors", 1)
            return 0, False
        written = sum(batch.rows for batch in new)
        with self._lock:
            self._counts["written"] += written
            self._counts["batches"] += len(new)
        return written, True

    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount


def _built(records: list[PredictionRecord]) -> tuple[Built | None, str | None]:
    """The records' table, or None and why, whatever went wrong (nothing is retried)."""
    from kiln.serving._predictions_format import build_table

    try:
        built = build_table(records)
    except Exception as error:  # e.g. a value Arrow cannot hold: the batch can never be written
        return None, f"{type(error).__name__}: {error}"
    return built, built.reason if built is not None else "no valid record"
