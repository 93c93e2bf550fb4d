"""Helpers of the job tests: scripts that jobs run, waiting for output, checking pids are gone."""

from __future__ import annotations

import re
import time
from pathlib import Path

from kiln.context import Context
from kiln.training._job_control import job_logs

#: Prints stdout and stderr interleaved, logs a metric to the job's run, and ends.
TRAIN = """\
import sys
import kiln

print("epoch 1", flush=True)
print("warning on stderr", file=sys.stderr, flush=True)
print("epoch 2", flush=True)
with kiln.start_run():
    kiln.log_metric("loss", 0.25)
print("args", sys.argv[1:], flush=True)
"""

#: Starts a child in its group, a grandchild in a session of its own, and an orphan (its
#: parent exits at once), prints every pid, then sleeps until it is ended.
TREE = """\
import os, subprocess, sys, time

child = subprocess.Popen(["sleep", "300"])
grandchild = subprocess.Popen(["sleep", "300"], start_new_session=True)
orphan = subprocess.run(
    [sys.executable, "-c",
     "import subprocess; print(subprocess.Popen(['sleep', '300'], start_new_session=True,"
     " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).pid)"],
    capture_output=True, text=True, check=True,
).stdout.strip()
print("pids", os.getpid(), child.pid, grandchild.pid, orphan, flush=True)
time.sleep(300)
"""

#: Busy for about a second, then holds a 200 MB buffer long enough to be sampled.
BUSY = """\
import time

start = time.process_time()
while time.process_time() - start < 1.0:
    pass
buffer = bytearray(200_000_000)
for i in range(0, len(buffer), 4096):
    buffer[i] = 1
time.sleep(0.8)
print("done", len(buffer), flush=True)
"""

PIDS = re.compile(r"pids ([\d ]+)")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def wait_for_output(
    context: Context, job_id: int, pattern: re.Pattern[str], timeout: float = 30.0
) -> re.Match[str]:
    """Read the job's live output until ``pattern`` shows in it."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = job_logs(job_id, context=context).text
        found = pattern.search(text)
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pattern.pattern!r} never appeared in job {job_id}'s output: {text!r}")


def tree_pids(context: Context, job_id: int, timeout: float = 30.0) -> list[int]:
    found = wait_for_output(context, job_id, PIDS, timeout)
    return [int(pid) for pid in found.group(1).split()]


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_gone(pids: list[int], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if running(pid)] == [], "processes of the job are still running"
