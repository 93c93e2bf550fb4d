"""Around one step attempt: captured stdout/stderr, a time limit, peak memory.

Output is captured two ways. In this process (the sequential runner),
``sys.stdout``/``sys.stderr`` are replaced by tees that keep a copy and still
print, so Python-level output is captured; output written straight to file
descriptors 1 and 2 by C code is not. In a worker process, file descriptors 1
and 2 themselves are redirected to temporary files, so everything is.

A time limit uses ``SIGALRM`` when called on the main thread of a POSIX
process (the step is interrupted where it is, at the next Python
instruction; an earlier alarm, such as pytest-timeout's, is put back
afterwards). Elsewhere the step runs in a helper thread that is abandoned
when the time is up: the step is FAILED, but its thread runs on until it
returns, as Python threads cannot be stopped.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import FrameType
from typing import Any, TextIO

from kiln.pipelines._entities import StepTimeout

__all__ = ["Captured", "MemoryPeak", "call_with_timeout", "capture_fds", "capture_python"]


@dataclass
class Captured:
    """The text a step printed; filled in when the capturing block ends."""

    stdout: str = ""
    stderr: str = ""


class _Tee(io.TextIOBase):
    def __init__(self, target: TextIO, copy: list[str]) -> None:
        self._target = target
        self._copy = copy

    def write(self, text: str) -> int:
        self._copy.append(text)
        with suppress(OSError, ValueError):  # a closed console must not fail the step
            self._target.write(text)
        return len(text)

    def flush(self) -> None:
        with suppress(OSError, ValueError):
            self._target.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8") or "utf-8"


@contextmanager
def capture_python() -> Iterator[Captured]:
    """Copy what Python code prints to ``sys.stdout``/``sys.stderr`` while still printing it."""
    captured = Captured()
    out: list[str] = []
    err: list[str] = []
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(saved[0], out), _Tee(saved[1], err)
    try:
        yield captured
    finally:
        sys.stdout, sys.stderr = saved
        captured.stdout, captured.stderr = "".join(out), "".join(err)


@contextmanager
def capture_fds() -> Iterator[Captured]:
    """Redirect file descriptors 1 and 2 to temporary files (for worker processes)."""
    captured = Captured()
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]  # noqa: SIM115  (closed below)
    _flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(files[0].fileno(), 1)
        os.dup2(files[1].fileno(), 2)
        yield captured
    finally:
        _flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        texts = []
        for descriptor, file in zip(saved, files, strict=True):
            os.close(descriptor)
            file.seek(0)
            texts.append(file.read().decode("utf-8", errors="replace"))
            file.close()
        captured.stdout, captured.stderr = texts


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with suppress(AttributeError, OSError, ValueError):
            stream.flush()


def call_with_timeout(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float | None,
    message: str,
) -> Any:
    """``fn(*args, **kwargs)``, failing with :class:`StepTimeout` (``message``) past ``timeout``."""
    if timeout is None:
        return fn(*args, **kwargs)
    if _alarm_usable(timeout):
        with _alarm(timeout, message):
            return fn(*args, **kwargs)
    return _in_thread(fn, args, kwargs, timeout, message)


def _alarm_usable(timeout: float) -> bool:
    if (
        not hasattr(signal, "setitimer")
        or threading.current_thread() is not threading.main_thread()
    ):
        return False
    remaining = signal.getitimer(signal.ITIMER_REAL)[0]
    return remaining == 0 or remaining > timeout


@contextmanager
def _alarm(timeout: float, message: str) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise StepTimeout(message)

    previous = signal.signal(signal.SIGALRM, expired)
    remaining, interval = signal.setitimer(signal.ITIMER_REAL, timeout)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if remaining > 0:
            left = max(remaining - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


def _in_thread(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    timeout: float,
    message: str,
) -> Any:
    result: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            result["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread below
            result["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="kiln-step").start()
    if not done.wait(timeout):
        raise StepTimeout(f"{message} (its thread is left running in the background)")
    if "error" in result:
        raise result["error"]
    return result["value"]


class MemoryPeak:
    """The peak resident memory of this process from ``start()`` to ``peak()``.

    On Linux the kernel's high-water mark (``VmHWM``) is reset at the start,
    which makes it exact; elsewhere the resident size at the end is reported,
    a lower bound.
    """

    def __init__(self) -> None:
        self._reset = False

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as file:
                file.write("5")
            self._reset = True
        except OSError:
            self._reset = False

    def peak(self) -> int | None:
        if self._reset:
            try:
                with open("/proc/self/status") as file:
                    for line in file:
                        if line.startswith("VmHWM:"):
                            return int(line.split()[1]) * 1024
            except (OSError, ValueError, IndexError):
                pass
        try:
            import psutil

            return int(psutil.Process().memory_info().rss)
        except Exception:  # psutil missing or the platform refuses: no figure, not a failure
            return None
