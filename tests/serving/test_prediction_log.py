"""The prediction log on SQLite and PostgreSQL: record, flush, read, label, export, crash."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

import kiln.serving._predictions_format as predictions_format
import kiln.serving._predictions_index as predictions_index
from kiln.context import Context
from kiln.data import _service as data_service
from kiln.db.tables import LineageEdgeRow, PredictionBatchRow
from kiln.errors import InvalidInput, NotFound
from kiln.serving._prediction_log import PredictionLog, PredictionRecord
from kiln.serving._predictions_export import export_dataset
from kiln.serving._predictions_index import read_predictions
from kiln.serving._predictions_labels import post_labels

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def rec(
    number: int,
    *,
    deployment: str = "fraud",
    seconds: float | None = None,
    inputs: dict[str, Any] | None = None,
    **fields: Any,
) -> PredictionRecord:
    """Request ``r<number>`` at T0 + ``seconds`` (default: ``number``) with one row."""
    inputs = inputs if inputs is not None else {"amount": [float(number)], "hour": [number % 24]}
    n_rows = len(next(iter(inputs.values()))) if inputs else 0
    values: dict[str, Any] = {
        "request_id": f"r{number}",
        "deployment": deployment,
        "model": "fraud",
        "version": 1,
        "route": "primary",
        "inputs": inputs,
        "outputs": {"score": [0.5] * n_rows},
        "n_rows": n_rows,
        "latency_ms": 1.25,
        "time": T0 + timedelta(seconds=number if seconds is None else seconds),
    }
    values.update(fields)
    return PredictionRecord(**values)


OpenLog = Callable[..., PredictionLog]


@pytest.fixture
def open_log() -> Iterator[OpenLog]:
    """Logs of project ``default`` that flush only when told (by default), closed afterwards."""
    made: list[PredictionLog] = []

    def make(context: Context, **options: Any) -> PredictionLog:
        options.setdefault("flush_seconds", 3600.0)
        made.append(PredictionLog(context, project="default", **options))
        return made[-1]

    yield make
    for log in made:
        log.close(timeout=5)


def batch_rows(context: Context) -> list[Any]:
    """The index rows, as plain rows (digest, rows, input_rows, first_time, last_time)."""
    table = PredictionBatchRow
    query = select(table.digest, table.rows, table.input_rows, table.first_time, table.last_time)
    return context.db.read(lambda s: list(s.execute(query.order_by(table.id))))


def test_thousands_of_records_from_many_threads_and_two_workers_are_all_readable(
    context: Context,
    open_log: OpenLog,
) -> None:
    workers = [open_log(context, flush_rows=300, flush_seconds=0.02) for _ in range(2)]
    threads_per_worker, per_thread = 4, 500

    def produce(log: PredictionLog, first: int) -> None:
        for number in range(first, first + per_thread):
            assert log.record(rec(number, seconds=number / 100))

    threads = [
        threading.Thread(target=produce, args=(log, (w * threads_per_worker + t) * per_thread))
        for w, log in enumerate(workers)
        for t in range(threads_per_worker)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log in workers:
        log.close()

    total = 2 * threads_per_worker * per_thread
    assert sum(log.stats().written for log in workers) == total
    assert all(log.stats().dropped == log.stats().write_errors == 0 for log in workers)
    table = read_predictions(context, "default", "fraud")
    assert sorted(table["request_id"].to_pylist()) == sorted(f"r{n}" for n in range(total))
    assert len(batch_rows(context)) > 2  # flushed by the threads, not only by close()

    since, until = T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)
    window = read_predictions(context, "default", "fraud", since=since, until=until)
    assert window["request_id"].to_pylist() == [f"r{n}" for n in range(1000, 2000)]
    assert window["time"].to_pylist() == sorted(window["time"].to_pylist())
    assert read_predictions(context, "default", "other").num_rows == 0


def test_a_row_keeps_every_field(context: Context, open_log: OpenLog) -> None:
    log = open_log(context)
    log.record(
        rec(
            7,
            inputs={"amount": [1.5, float("nan")], "city": ["Oslo", None]},
            version=None,
            route="canary",
            status=422,
            error="amount out of range",
        )
    )
    assert log.flush() == 1
    (row,) = read_predictions(context, "default", "fraud").to_pylist()
    assert row == {
        "request_id": "r7",
        "deployment": "fraud",
        "model": "fraud",
        "version": None,
        "route": "canary",
        "n_rows": 2,
        "latency_ms": 1.25,
        "status": 422,
        "error": "amount out of range",
        "time": T0 + timedelta(seconds=7),
        "inputs": '{"amount":[1.5,null],"city":["Oslo",null]}',
        "outputs": '{"score":[0.5,0.5]}',
    }
    (batch,) = batch_rows(context)
    assert (batch.rows, batch.input_rows, batch.first_time) == (1, 2, T0 + timedelta(seconds=7))


def test_the_flusher_writes_after_flush_seconds_without_being_asked(
    context: Context, open_log: OpenLog
) -> None:
    log = open_log(context, flush_seconds=0.05)
    log.record(rec(1))
    deadline = time.monotonic() + 10
    while log.stats().written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert log.stats().written == 1
    assert read_predictions(context, "default", "fraud")["request_id"].to_pylist() == ["r1"]


def test_a_full_buffer_drops_new_records_and_counts_them(
    context: Context, open_log: OpenLog
) -> None:
    log = open_log(context, max_buffer=100, flush_rows=1000)
    accepted = [log.record(rec(n)) for n in range(150)]
    assert accepted == [True] * 100 + [False] * 50
    assert (log.stats().buffered, log.stats().dropped) == (100, 50)
    assert log.flush() == 100
    assert log.record(rec(200))
    log.close()
    assert not log.record(rec(201))
    stats = log.stats()
    assert (stats.written, stats.dropped, stats.buffered) == (101, 51, 0)


def test_requests_being_written_count_against_the_bound(
    context: Context, monkeypatch: pytest.MonkeyPatch, open_log: OpenLog
) -> None:
    real = predictions_format.store_table
    started, release = threading.Event(), threading.Event()

    def slow(*args: Any) -> Any:
        started.set()
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(predictions_format, "store_table", slow)
    log = open_log(context, max_buffer=10)
    for number in range(6):
        log.record(rec(number))
    flushing = threading.Thread(target=log.flush)
    flushing.start()
    assert started.wait(10)
    assert [log.record(rec(n)) for n in range(6, 12)] == [True] * 4 + [False] * 2
    assert (log.stats().buffered, log.stats().retained) == (4, 6)
    release.set()
    flushing.join()
    assert log.flush() == 4
    assert read_predictions(context, "default", "fraud").num_rows == 10


def test_a_failed_store_keeps_the_batch_within_the_bound_and_retries(
    context: Context, monkeypatch: pytest.MonkeyPatch, open_log: OpenLog
) -> None:
    real = predictions_format.store_table
    failures = iter([OSError("No space left on device")] * 2)

    def flaky(*args: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return real(*args)

    monkeypatch.setattr(predictions_format, "store_table", flaky)
    log = open_log(context, max_buffer=15)
    for number in range(10):
        log.record(rec(number))
    assert log.flush() == 0
    assert (log.stats().retained, log.stats().write_errors) == (10, 1)
    assert [log.record(rec(n)) for n in range(10, 20)] == [True] * 5 + [False] * 5
    assert log.flush() == 5  # the kept batch fails again; the new one is stored
    assert log.flush() == 10
    stats = log.stats()
    assert (stats.written, stats.retained, stats.dropped, stats.write_errors) == (15, 0, 5, 2)
    assert read_predictions(context, "default", "fraud").num_rows == 15


def test_an_index_insert_that_committed_but_failed_is_not_indexed_twice(
    context: Context, monkeypatch: pytest.MonkeyPatch, open_log: OpenLog
) -> None:
    real = predictions_index.insert_batches
    calls = []

    def commits_then_fails(session: Any, *args: Any) -> int:
        calls.append(1)
        inserted = real(session, *args)
        if len(calls) == 1:
            session.commit()
            raise ConnectionError("server closed the connection unexpectedly")
        return inserted

    monkeypatch.setattr(predictions_index, "insert_batches", commits_then_fails)
    log = open_log(context)
    for number in range(5):
        log.record(rec(number, deployment="fraud"))
        log.record(rec(number, deployment="churn"))
    assert log.flush() == 0
    assert log.stats().write_errors == 1
    assert log.flush() == 10
    assert len(batch_rows(context)) == 2
    assert read_predictions(context, "default", "churn").num_rows == 5


def test_an_unreachable_database_never_raises_into_the_server(
    make_context: Callable[..., Context],
    open_log: OpenLog,
) -> None:
    down = make_context(database_url="postgresql://kiln@127.0.0.1:9/nowhere")
    log = open_log(down)
    assert log.record(rec(1))
    assert log.flush() == 0
    log.close(timeout=5)
    assert (log.stats().write_errors, log.stats().retained) == (2, 1)


def test_records_with_bad_fields_are_counted_and_the_rest_written(
    context: Context, open_log: OpenLog
) -> None:
    log = open_log(context)
    good = rec(1)
    bad = [
        rec(2, time=datetime(2026, 3, 1, 12)),  # naive
        rec(3, version="3"),
        rec(4, inputs={"blob": [object()]}),
        rec(5, deployment="x" * 200),
        "not a record",
    ]
    for record in [good, *bad]:
        assert log.record(record)  # type: ignore[arg-type]
    assert log.flush() == 1
    assert log.stats().invalid == len(bad)
    assert read_predictions(context, "default", "fraud")["request_id"].to_pylist() == ["r1"]


CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime, timedelta
    from kiln.config import Settings
    from kiln.context import Context
    from kiln.serving._prediction_log import PredictionLog, PredictionRecord

    url, home, prefix = sys.argv[1:4]
    context = Context(Settings(home=home, database_url=url))
    log = PredictionLog(context, project="default", flush_rows=25, flush_seconds=0.002)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    number = 0
    announced = False
    while True:
        number += 1
        log.record(PredictionRecord(
            f"{prefix}-{number}", "fraud", "fraud", 1, "primary",
            {"amount": [float(number)] * 3}, {"score": [0.1] * 3}, 3, 0.5,
            time=start + timedelta(milliseconds=number),
        ))
        if not announced and log.stats().batches:
            print("flushing", flush=True)
            announced = True
        if number % 50 == 0:
            time.sleep(0.001)
    """
)


@pytest.mark.slow
def test_writers_killed_mid_flush_leave_every_index_row_pointing_at_a_whole_blob(
    context: Context,
    open_log: OpenLog,
) -> None:
    home = str(context.settings.home)
    url = context.settings.resolved_database_url
    rng = random.Random(8)
    for attempt in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", CRASHING_WRITER, url, home, f"w{attempt}"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "flushing"
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(writer.pid, signal.SIGKILL)
        finally:
            writer.kill()
            writer.wait(timeout=30)
            if writer.stdout is not None:
                writer.stdout.close()

    seen: list[str] = []
    for batch in batch_rows(context):
        assert context.artifacts.exists(batch.digest)
        with context.artifacts.open(batch.digest) as file:
            table = pq.read_table(file)
        assert table.num_rows == batch.rows
        assert sum(table["n_rows"].to_pylist()) == batch.input_rows
        times = table["time"].to_pylist()
        assert (min(times), max(times)) == (batch.first_time, batch.last_time)
        seen.extend(table["request_id"].to_pylist())
    assert len(seen) == len(set(seen)) > 0
    assert {request_id.split("-")[0] for request_id in seen} == {f"w{n}" for n in range(6)}
    assert read_predictions(context, "default", "fraud").num_rows == len(seen)
    log = open_log(context)  # the store still takes writes
    log.record(rec(1))
    assert log.flush() == 1


def test_labels_before_and_after_the_flush_replace_and_validate(
    context: Context, open_log: OpenLog
) -> None:
    log = open_log(context)
    log.record(rec(1))
    early = context.db.run(post_labels, "default", "fraud", {"r1": 1, "r2": "fraud"})
    assert (early.added, early.replaced) == (2, 0)
    log.record(rec(2))
    log.flush()
    later = context.db.run(
        post_labels,
        "default",
        "fraud",
        [{"request_id": "r2", "label": 0}, {"request_id": "never-logged", "label": True}],
    )
    assert (later.added, later.replaced) == (1, 1)

    for labels, field in [
        ({"r1": None}, "labels.r1"),
        ({"r1": {"nested": 1}}, "labels.r1"),
        ({"r1": float("nan")}, "labels.r1"),
        ({"r1": []}, "labels.r1"),
        ({"": 1}, "labels..request_id"),
        ([{"request_id": "r1"}], "labels[0]"),
        ([{"request_id": "r1", "label": [1, None]}], "labels[0].label[1]"),
        ("r1=1", "labels"),
        ({}, "labels"),
    ]:
        with pytest.raises(InvalidInput) as caught:
            context.db.run(post_labels, "default", "fraud", labels)
        assert caught.value.field == field, labels
    with pytest.raises(NotFound):
        context.db.run(post_labels, "nope", "fraud", {"r1": 1})


def test_export_joins_inputs_with_labels_into_a_dataset_version(
    context: Context, open_log: OpenLog
) -> None:
    log = open_log(context)
    log.record(rec(0, seconds=-60))  # before the range
    log.record(rec(1))
    log.record(rec(2, inputs={"amount": [2.0, 3.0], "hour": [2, 3]}))
    log.record(rec(2, route="shadow", model="fraud-next", version=2))  # a copy of r2
    log.record(rec(3, inputs={"amount": [4.0], "hour": [4], "city": ["Oslo"]}, version=2))
    log.record(rec(4, status=500, error="model crashed"))
    log.record(rec(5))  # no label
    log.record(rec(6, inputs={"amount": [6.0, 7.0], "hour": [6, 7]}))  # a list label too short
    log.record(rec(7, seconds=3600))  # after the range
    log.flush()
    labels = {"r0": 0, "r1": 1, "r2": [0, 1], "r3": 1, "r4": 1, "r6": [1], "r7": 0}
    context.db.run(post_labels, "default", "fraud", labels)

    until = T0 + timedelta(minutes=30)
    done = export_dataset(context, "default", "fraud", since=T0, until=until)

    assert (done.requests, done.labeled, done.unlabeled, done.mismatched) == (5, 3, 1, 1)
    assert done.version.uri == "fraud-labeled@1"
    table = data_service.load(context.db, context.artifacts, "default", done.version.uri)
    assert table.to_pydict() == {
        "amount": [1.0, 2.0, 3.0, 4.0],
        "hour": [1, 2, 3, 4],
        "city": [None, None, None, "Oslo"],
        "label": [1, 0, 1, 1],
    }
    assert done.rows == 4
    again = export_dataset(context, "default", "fraud", since=T0, until=until)
    assert again.version.version_id == done.version.version_id  # same rows, same version

    (batch,) = batch_rows(context)
    edges = context.db.read(
        lambda s: [
            (e.source_kind, e.source_id, e.target_id) for e in s.scalars(select(LineageEdgeRow))
        ]
    )
    assert edges == [("artifact", batch.digest, done.version.version_id)]

    with pytest.raises(NotFound, match="no labeled predictions"):
        export_dataset(context, "default", "fraud", since=T0 + timedelta(hours=2))
    with pytest.raises(InvalidInput) as caught:
        export_dataset(context, "default", "fraud", since=T0, label_column="amount")
    assert caught.value.field == "label_column"
    with pytest.raises(InvalidInput) as caught:
        export_dataset(context, "default", "fraud", since=datetime(2026, 3, 1))
    assert caught.value.field == "since"


def test_gc_keeps_the_prediction_blobs(context: Context, open_log: OpenLog) -> None:
    from kiln.gc import collect

    log = open_log(context)
    log.record(rec(1))
    log.flush()
    (batch,) = batch_rows(context)
    report = collect(context, dry_run=True, grace=timedelta(0), allow_no_references=True)
    assert batch.digest not in {blob.digest for blob in report.garbage}
    assert report.references_by_source["prediction_batches.digest"] == 1
