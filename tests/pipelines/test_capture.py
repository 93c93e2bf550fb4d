"""Around a step attempt: time limits in any thread, alarms put back, output captured."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

import pytest

from kiln.pipelines import StepTimeout
from kiln.pipelines._capture import MemoryPeak, call_with_timeout, capture_fds, capture_python


def test_a_timeout_off_the_main_thread_abandons_a_helper_thread() -> None:
    result: dict[str, Any] = {}

    def worker() -> None:
        try:
            call_with_timeout(time.sleep, (5,), {}, 0.2, "too slow")
        except StepTimeout as exc:
            result["error"] = str(exc)
        result["value"] = call_with_timeout(lambda: 7, (), {}, 1.0, "unused")
        try:
            call_with_timeout(lambda: 1 / 0, (), {}, 1.0, "unused")
        except ZeroDivisionError:
            result["raised"] = True

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(10)

    assert result == {
        "error": "too slow (its thread is left running in the background)",
        "value": 7,
        "raised": True,
    }


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX alarms")
@pytest.mark.timeout(0)  # this test owns the alarm
def test_an_earlier_alarm_is_put_back() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        with pytest.raises(StepTimeout, match="late"):
            call_with_timeout(time.sleep, (5,), {}, 0.1, "late")
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 25 < remaining <= 30
        assert fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_python_output_is_copied_and_still_printed(capsys: pytest.CaptureFixture[str]) -> None:
    with capture_python() as captured:
        print("hello")
        print("oops", file=sys.stderr)

    assert (captured.stdout, captured.stderr) == ("hello\n", "oops\n")
    assert capsys.readouterr() == ("hello\n", "oops\n")


def test_descriptors_are_captured_and_restored(capfd: pytest.CaptureFixture[str]) -> None:
    with capture_fds() as captured:
        os.write(1, b"from C\n")
        os.write(2, b"err\n")
    os.write(1, b"after\n")

    assert captured.stdout == "from C\n"
    assert captured.stderr == "err\n"
    assert capfd.readouterr().out == "after\n"


def test_peak_memory_is_measured() -> None:
    memory = MemoryPeak()
    memory.start()
    block = bytearray(32 * 1024 * 1024)
    block[::4096] = b"\x01" * len(block[::4096])
    peak = memory.peak()

    assert peak is not None
    assert peak >= 32 * 1024 * 1024
