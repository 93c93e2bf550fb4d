"""Prediction log benchmark: ``record()`` on the request path, and what the flusher keeps up with.

Prints one JSON object. Requests carry 8 input columns (NumPy arrays, as the
server's parsed bodies are) and one output column, one row each unless
said otherwise. Stores are a fresh SQLite metadata store and a local
artifact folder in a temporary directory.

- ``record_us``: one ``PredictionLog.record`` call (mean over ``CALLS``/2
  calls in a row; p50/p99 from timing the other half one by one), with
  the flusher idle, and with the flusher writing meanwhile (``flush_rows``
  10,000); the best of ``REPEAT`` runs.
- ``construct_us``: building the ``PredictionRecord`` itself.
- ``flush``: requests per second through build → Parquet → blob → index,
  for batches of 10,000 requests of 1 and of 10 rows.
- ``sustained``: 4 threads recording ``CALLS`` requests as fast as they
  can with the flusher running (default flush settings, a buffer large
  enough to hold them all): recorded and written per second.
- ``burst``: the same with the default ``max_buffer`` (100,000): a burst
  faster than the flusher writes drops what does not fit, and counts it.
- ``read_export``: reading back ``EXPORTED`` logged requests of one
  deployment, posting labels for half of them, and exporting those as a
  dataset version.

Run: ``.venv/bin/python benchmarks/prediction_log.py``
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CALLS = 200_000
REPEAT = 3
EXPORTED = 100_000
BATCH = 10_000
COLUMNS = 8
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def make_record(number: int, rows: int = 1, deployment: str = "fraud") -> Any:
    import numpy as np

    from kiln.serving._prediction_log import PredictionRecord

    inputs = {f"f{index}": np.full(rows, number * 0.5 + index) for index in range(COLUMNS)}
    return PredictionRecord(
        request_id=f"req-{number}",
        deployment=deployment,
        model="fraud",
        version=3,
        route="primary",
        inputs=inputs,
        outputs={"score": np.full(rows, 0.25)},
        n_rows=rows,
        latency_ms=1.7,
        time=T0 + timedelta(milliseconds=number),
    )


def record_cost(context: Any, records: list[Any], *, flushing: bool) -> dict[str, float]:
    """The best of ``REPEAT`` runs (the machine is shared; the best is the least disturbed)."""
    runs = [_record_cost(context, records, flushing=flushing) for _ in range(REPEAT)]
    return min(runs, key=lambda run: run["mean"])


def _record_cost(context: Any, records: list[Any], *, flushing: bool) -> dict[str, float]:
    from kiln.serving._prediction_log import PredictionLog

    flush_rows = BATCH if flushing else len(records) + 1
    log = PredictionLog(
        context,
        project="default",
        max_buffer=len(records) + 1,
        flush_rows=flush_rows,
        flush_seconds=0.5 if flushing else 3600.0,
    )
    log.record(records[0])  # starts the flusher thread outside the timing
    started = time.perf_counter()
    for record in records[1 : len(records) // 2]:
        log.record(record)
    mean = (time.perf_counter() - started) / (len(records) // 2 - 1) * 1e6
    samples = []
    clock = time.perf_counter_ns
    for record in records[len(records) // 2 :]:
        before = clock()
        log.record(record)
        samples.append((clock() - before) / 1000)
    log.close()
    samples.sort()
    return {
        "mean": round(mean, 3),
        "p50": round(samples[len(samples) // 2], 3),
        "p99": round(samples[int(len(samples) * 0.99)], 3),
        "dropped": log.stats().dropped,
    }


def construct_cost() -> float:
    import numpy as np

    from kiln.serving._prediction_log import PredictionRecord

    inputs = {f"f{index}": np.full(1, 0.5) for index in range(COLUMNS)}
    outputs = {"score": np.full(1, 0.25)}
    started = time.perf_counter()
    for number in range(CALLS // 4):
        PredictionRecord("req", "fraud", "fraud", 3, "primary", inputs, outputs, 1, 1.7)
        del number
    return round((time.perf_counter() - started) / (CALLS // 4) * 1e6, 3)


def flush_rate(context: Any, rows: int, repeat: int = REPEAT) -> dict[str, float]:
    from kiln.serving._prediction_log import PredictionLog

    times = []
    for attempt in range(repeat):
        log = PredictionLog(context, project="default", max_buffer=BATCH, flush_seconds=3600.0)
        for number in range(BATCH):  # only the log holds them: freeing them counts too
            log.record(make_record((attempt + 10) * 10 * BATCH + number, rows))
        started = time.perf_counter()
        assert log.flush() == BATCH
        times.append(time.perf_counter() - started)
        log.close()
    best = min(times)
    return {
        "rows_per_request": rows,
        "seconds_per_10k": round(best, 3),
        "requests_per_second": round(BATCH / best),
    }


def sustained(context: Any, records: list[Any], max_buffer: int) -> dict[str, float]:
    from kiln.serving._prediction_log import PredictionLog

    log = PredictionLog(context, project="default", max_buffer=max_buffer)
    parts = [records[index::4] for index in range(4)]

    def produce(part: list[Any]) -> None:
        for record in part:
            log.record(record)

    threads = [threading.Thread(target=produce, args=(part,)) for part in parts]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recording = time.perf_counter() - started
    log.close()
    total = time.perf_counter() - started
    stats = log.stats()
    return {
        "threads": 4,
        "max_buffer": max_buffer,
        "requests": len(records),
        "recorded_per_second": round(len(records) / recording),
        "written_per_second_incl_close": round(stats.written / total),
        "dropped": stats.dropped,
        "write_errors": stats.write_errors,
    }


def read_and_export(context: Any) -> dict[str, float]:
    from kiln.serving._prediction_log import PredictionLog
    from kiln.serving._predictions_export import export_dataset
    from kiln.serving._predictions_index import read_predictions
    from kiln.serving._predictions_labels import post_labels

    log = PredictionLog(context, project="default", max_buffer=EXPORTED, flush_seconds=3600.0)
    for number in range(EXPORTED):
        log.record(make_record(number, deployment="exported"))
    log.close()
    started = time.perf_counter()
    table = read_predictions(context, "default", "exported")
    read = time.perf_counter() - started
    labels = {f"req-{number}": number % 2 for number in range(0, EXPORTED, 2)}
    started = time.perf_counter()
    context.db.run(post_labels, "default", "exported", labels)
    posted = time.perf_counter() - started
    started = time.perf_counter()
    done = export_dataset(context, "default", "exported", since=T0)
    exported = time.perf_counter() - started
    return {
        "read_requests": table.num_rows,
        "read_seconds": round(read, 3),
        "post_labels": len(labels),
        "post_labels_seconds": round(posted, 3),
        "export_rows": done.rows,
        "export_seconds": round(exported, 3),
    }


def main() -> None:
    from kiln.config import Settings
    from kiln.context import Context

    with tempfile.TemporaryDirectory(prefix="kiln-bench-") as folder:
        context = Context(Settings(home=Path(folder)))
        context.db.engine  # noqa: B018  (migrate outside the timings)
        records = _records(10_000_000)
        idle = record_cost(context, records, flushing=False)
        busy = record_cost(context, records, flushing=True)
        result = {
            "benchmark": "prediction_log",
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "record_us": {"flusher_idle": idle, "flusher_writing": busy},
            "construct_us": construct_cost(),
            "flush": [flush_rate(context, 1), flush_rate(context, 10)],
            "sustained": sustained(context, _records(20_000_000), max_buffer=CALLS),
            "burst": sustained(context, _records(30_000_000), max_buffer=100_000),
            "read_export": read_and_export(context),
            "batches_median_bytes": _median_batch_bytes(context),
        }
        context.close()
    print(json.dumps(result, indent=2))


def _records(first: int) -> list[Any]:
    return [make_record(first + number) for number in range(CALLS)]


def _median_batch_bytes(context: Any) -> int:
    from sqlalchemy import select

    from kiln.db.tables import PredictionBatchRow

    sizes = context.db.read(
        lambda s: list(
            s.scalars(select(PredictionBatchRow.size).where(PredictionBatchRow.rows == BATCH))
        )
    )
    return int(statistics.median(sizes)) if sizes else 0


if __name__ == "__main__":
    main()
