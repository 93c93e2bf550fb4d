"""A job's process tree: started in a session of its own, watched, and ended whole.

The job process leads a new session (and process group), so one signal to
the group reaches everything that stayed in it. A child may leave the group
(``setsid``, ``start_new_session=True``) or outlive its parent: every
process seen in the tree is remembered by pid and start time and signalled
by itself too, and a supervisor that is the tree's child subreaper
(``become_subreaper``, Linux) adopts orphans, so even one never sampled is
found among its own children. Ending is SIGTERM to all, a grace period,
then SIGKILL to what is left.

The job process is reaped with ``wait4`` rather than ``Popen.wait``, to read
the kernel's account of its (and its waited-for descendants') CPU and memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

__all__ = ["ProcessTree", "become_subreaper"]


def become_subreaper() -> bool:
    """Adopt this process's orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``).

    Only a process that runs nothing but the job may do this (the
    supervisor): it must reap what it adopts.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(36, 1, 0, 0, 0)) == 0  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        return False


class ProcessTree:
    """The job's process and its descendants; ``start`` once, then ``poll`` until it ends."""

    def __init__(
        self, command: Sequence[str], *, cwd: str, env: dict[str, str], adopts: bool = False
    ) -> None:
        self.command = list(command)
        #: This process is a subreaper running nothing else: its other children are the tree's.
        self.adopts = adopts
        self.cwd = cwd
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.rusage: Any = None
        self.started: float | None = None
        self._root: Any = None
        self._seen: dict[tuple[int, float], Any] = {}

    @property
    def pid(self) -> int:
        assert self.process is not None, "start() first"
        return self.process.pid

    @property
    def output(self) -> IO[bytes]:
        assert self.process is not None
        assert self.process.stdout is not None
        return self.process.stdout

    def start(self) -> int:
        """Start the job process (stdout and stderr into one pipe, in write order)."""
        import psutil

        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._root = psutil.Process(self.process.pid)
            self.started = self._root.create_time()
            self._seen[(self._root.pid, self.started)] = self._root
        except psutil.NoSuchProcess:  # it ended already; poll() reaps it
            self.started = time.time()
        return self.process.pid

    def poll(self) -> int | None:
        """The exit code once the job process has ended (reaping it), else None."""
        if self.exit_code is not None or self.process is None:
            return self.exit_code
        try:
            pid, status, rusage = os.wait4(self.process.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere; its account is lost
            self._ended(-1)
            return self.exit_code
        if pid == 0:
            return None
        self.rusage = rusage
        self._ended(os.waitstatus_to_exitcode(status))
        return self.exit_code

    def _ended(self, code: int) -> None:
        self.exit_code = code
        assert self.process is not None
        self.process.returncode = code  # so Popen knows, and never waits for it again

    def members(self) -> list[Any]:
        """Every live process of the tree now: the job, its descendants, and those seen before."""
        import psutil

        found: dict[int, Any] = {}

        def add(process: Any) -> None:
            try:
                key = (process.pid, process.create_time())
                if process.status() == psutil.STATUS_ZOMBIE:
                    return
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                return
            found.setdefault(process.pid, process)
            self._seen.setdefault(key, process)

        roots = [self._root] if self._root is not None else []
        roots += [p for p in list(self._seen.values()) if p is not self._root]
        if self.adopts:
            with contextlib.suppress(psutil.Error):
                roots += psutil.Process().children()  # orphans adopted by this subreaper
        for process in roots:
            if process is None or process.pid == os.getpid():
                continue
            add(process)
            with contextlib.suppress(psutil.Error):
                for child in process.children(recursive=True):
                    add(child)
        return list(found.values())

    def _signal_all(self, sig: signal.Signals, targets: list[Any]) -> None:
        import psutil

        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)
        for process in targets:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)

    def _reap_adopted(self) -> None:
        """Collect zombies of orphans this (subreaper) process adopted, never the job's own."""
        import psutil

        if not self.adopts:
            return
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process().children():
                if self.process is not None and child.pid == self.process.pid:
                    continue
                with contextlib.suppress(psutil.Error, ChildProcessError):
                    if child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)

    def _wait_gone(self, targets: list[Any], seconds: float) -> list[Any]:
        import psutil

        deadline = time.monotonic() + seconds
        while True:
            self.poll()
            self._reap_adopted()
            alive = []
            for process in targets:
                try:
                    if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                        alive.append(process)
                except psutil.Error:
                    continue
            if (not alive and self.exit_code is not None) or time.monotonic() >= deadline:
                return alive
            time.sleep(0.05)

    def end(self, grace: float) -> int:
        """SIGTERM to the whole tree, SIGKILL after ``grace`` seconds; how many were running."""
        if self.process is None:
            return 0
        targets = self.members()
        if not targets and self.poll() is not None:
            self._reap_adopted()
            return 0
        self._signal_all(signal.SIGTERM, targets)
        alive = self._wait_gone(targets, grace)
        if alive or self.exit_code is None:
            self._signal_all(signal.SIGKILL, alive + self.members())
            self._wait_gone(alive, 5.0)
        if self.exit_code is None:  # it cannot outlive SIGKILL; wait for the kernel to say so
            assert self.process is not None
            _, status, self.rusage = os.wait4(self.process.pid, 0)
            self._ended(os.waitstatus_to_exitcode(status))
        return len(targets)
