"""Prediction listeners: each indexed batch is handed to them; one that raises is counted
and logged, and neither the log nor the other listeners stop."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from kiln.context import Context
from kiln.labeling._watches import WatchListener
from kiln.serving._prediction_log import PredictionLog, installed_listeners
from tests.serving.test_prediction_log import batch_rows, rec


def test_listeners_see_each_indexed_batch_and_a_failing_one_is_counted(
    context: Context,
) -> None:
    seen: list[tuple[str, list[str]]] = []

    def broken(deployment: str, table: pa.Table) -> None:
        raise RuntimeError("a listener bug")

    def keeper(deployment: str, table: pa.Table) -> None:
        seen.append((deployment, table.column("request_id").to_pylist()))

    log = PredictionLog(
        context, project="default", flush_seconds=3600.0, listeners=[broken, keeper]
    )
    try:
        for number in range(3):
            log.record(rec(number, deployment="fraud"))
        log.record(rec(3, deployment="churn"))
        assert log.flush() == 4
        log.record(rec(4, deployment="fraud"))
        assert log.flush() == 1
    finally:
        log.close(timeout=5)
    assert sorted(seen) == [
        ("churn", ["r3"]),
        ("fraud", ["r0", "r1", "r2"]),
        ("fraud", ["r4"]),
    ]
    stats = log.stats()
    assert (stats.written, stats.listener_errors) == (5, 3)  # every call of the broken one
    assert len(batch_rows(context)) == 3


def test_a_batch_that_failed_to_index_is_told_once_it_is_indexed(context: Context) -> None:
    seen: list[Any] = []
    log = PredictionLog(
        context,
        project="no-such-project",  # indexing fails until the project exists
        flush_seconds=3600.0,
        listeners=[lambda deployment, table: seen.append(table.num_rows)],
    )
    try:
        log.record(rec(1))
        assert log.flush() == 0
        assert seen == []
        from kiln.auth import ensure_project

        context.db.run(ensure_project, "no-such-project")
        assert log.flush() == 1
    finally:
        log.close(timeout=5)
    assert seen == [1]


def test_kiln_installs_the_labeling_watch_listener(context: Context) -> None:
    listeners = installed_listeners(context, "default")
    assert any(isinstance(listener, WatchListener) for listener in listeners)
