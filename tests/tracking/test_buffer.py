"""The log buffer: order kept, background writes, errors reported, nothing lost at exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import kiln
from kiln.errors import Conflict
from kiln.tracking import _fluent
from kiln.tracking._buffer import LogBuffer
from kiln.tracking._entities import Metric, Param


class Recorder:
    def __init__(self) -> None:
        self.batches: list[tuple[str, list[Metric], list[Param], list[tuple[str, str]]]] = []
        self.lock = threading.Lock()
        self.fail_with: Exception | None = None

    def __call__(
        self, run_id: str, metrics: list[Metric], params: list[Param], tags: list[tuple[str, str]]
    ) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        with self.lock:
            self.batches.append((run_id, list(metrics), list(params), list(tags)))

    def metrics(self) -> list[float]:
        return [m.value for _, ms, _, _ in self.batches for m in ms]


def test_order_is_kept_across_background_and_explicit_flushes() -> None:
    buffer = LogBuffer(interval=0.001, max_pending=50, chunk=7)
    recorder = Recorder()
    for i in range(1000):
        buffer.add("r", recorder, metrics=[Metric("m", float(i), i, i)])
    buffer.flush()
    assert recorder.metrics() == [float(i) for i in range(1000)]
    assert all(len(ms) <= 7 for _, ms, _, _ in recorder.batches)
    buffer.close()


def test_background_thread_writes_without_a_flush() -> None:
    buffer = LogBuffer(interval=0.02)
    recorder = Recorder()
    buffer.add("r", recorder, metrics=[Metric("m", 1.0, 0, 0)], tags=[("t", "v")])
    deadline = time.monotonic() + 5
    while not recorder.batches and time.monotonic() < deadline:
        time.sleep(0.01)
    assert recorder.batches == [("r", [Metric("m", 1.0, 0, 0)], [], [("t", "v")])]
    buffer.close()


def test_a_refused_batch_is_raised_on_the_next_call() -> None:
    buffer = LogBuffer(interval=60)
    recorder = Recorder()
    recorder.fail_with = Conflict("run r is FINISHED")
    buffer.add("r", recorder, metrics=[Metric("m", 1.0, 0, 0)])
    with pytest.raises(Conflict, match="FINISHED"):
        buffer.flush("r")
    recorder.fail_with = None
    buffer.add("r", recorder, metrics=[Metric("m", 2.0, 0, 0)])  # reported once only
    buffer.flush("r")
    assert recorder.metrics() == [2.0]


def test_a_refusal_of_a_write_in_progress_reaches_the_caller_that_waited_for_it() -> None:
    """``take`` waits for a background write of the run; that write's refusal is not lost."""
    buffer = LogBuffer(interval=60)
    started, release = threading.Event(), threading.Event()

    def slow_refusal(run_id: str, *_: object) -> None:
        started.set()
        release.wait(5)
        raise Conflict("param lr cannot change")

    buffer.add("r", slow_refusal, params=[Param("lr", "0.2")])
    writer = threading.Thread(target=buffer._write, args=(None,))
    writer.start()
    assert started.wait(5)
    threading.Timer(0.2, release.set).start()
    with pytest.raises(Conflict, match="cannot change"):
        buffer.take("r")  # waits for the write above, then reports its refusal
    writer.join(5)


def test_unexpected_errors_are_reported_not_swallowed() -> None:
    buffer = LogBuffer(interval=60)
    recorder = Recorder()
    recorder.fail_with = RuntimeError("disk full")
    buffer.add("r", recorder, params=[Param("p", "1")])
    with pytest.raises(kiln.KilnError, match="disk full"):
        buffer.flush()


def test_buffered_points_are_written_at_interpreter_exit(tmp_path: Path) -> None:
    home = tmp_path / "home"
    kiln.configure(home=home)
    with kiln.start_run(capture_environment=False) as run:
        pass
    kiln.get_context().close()
    kiln.configure(home=tmp_path / "elsewhere")
    script = textwrap.dedent(
        f"""
        import kiln
        from kiln.tracking import _entities, _runs
        kiln.configure(home={str(home)!r})
        db = kiln.get_context().db
        db.run(_runs.update_run, "default", {run.id!r}, status="RUNNING")
        for step in range(2000):
            kiln.log_metric("late", float(step), step=step, run_id={run.id!r})
        # no flush: the exit hook must write everything
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    kiln.configure(home=home)
    try:
        assert len(kiln.get_metric_history(run.id, "late")) == 2000
    finally:
        _fluent._reset_for_tests()
        kiln.get_context().close()
