"""Running one job: its process tree watched, its output stored live, its end recorded.

::

    execute_job(context, job)
      isolated?  ensure_environment (build output into the job's log)
      start      python script.py ARGS | python -c BOOTSTRAP module:function ARGS
                 in a session of its own, cwd = the job's working directory,
                 KILN_* naming the same stores and KILN_RUN_ID its run
      every tick (0.5 s)
                 sample the tree's usage; store the new output as chunks (and the
                 heartbeat); read cancel_requested; check the timeout
      the end    the tree ended whole (cancel, timeout, or what the job left running)
                 finish_job: status, exit code, usage; run ended with job.* metrics,
                 the whole output as the run's logs/output.log and the packages
                 (an isolated job's pins) as its environment/requirements.txt

It runs in the supervisor (runner ``local``) or inside a Ray task (runner
``ray``): everything it needs is in the database and the settings, so the
cancel and the logs work wherever it runs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.context import child_environment
from kiln.tracking._entities import RunArtifact
from kiln.training._job_envs import build_environment_variables, ensure_environment
from kiln.training._job_output import Output
from kiln.training._job_process import ProcessTree
from kiln.training._job_records import (
    LOG_ARTIFACT,
    REQUIREMENTS_ARTIFACT,
    Outcome,
    append_output,
    cancel_requested,
    finish_job,
    full_output,
    mark_running,
)
from kiln.training._job_spec import is_script
from kiln.training._job_usage import TreeUsage, gpu_probe
from kiln.training._jobs import Job, JobStatus

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["BOOTSTRAP", "execute_job", "job_command", "job_environment"]

#: Seconds between samples, output flushes and cancel checks.
TICK = 0.5
#: Seconds between heartbeats when there is no output to store.
HEARTBEAT = 5.0
#: Seconds from SIGTERM to SIGKILL when a job's tree is ended.
KILL_GRACE = 5.0

#: How a ``module:function`` entry runs: imported from the working directory, called with
#: the arguments as positional strings (also in ``sys.argv[1:]``). Standard library only,
#: so it runs in an isolated environment without Kiln.
BOOTSTRAP = """\
import importlib, sys
entry, args = sys.argv[1], sys.argv[2:]
module_name, _, qualname = entry.partition(":")
sys.argv = [entry, *args]
target = importlib.import_module(module_name)
for part in qualname.split("."):
    try:
        target = getattr(target, part)
    except AttributeError:
        sys.exit(f"[kiln] {module_name} has no {qualname!r}: check the entry {entry}")
target(*args)
"""


class Stopped(Exception):
    """The job was cancelled (or its supervisor stopped) while its environment was built."""


def job_command(job: Job, python: str) -> list[str]:
    if is_script(job.entry):
        return [python, job.entry, *job.args]
    return [python, "-c", BOOTSTRAP, job.entry, *job.args]


def job_environment(context: Context, job: Job, folder: Path | None = None) -> dict[str, str]:
    """The job's variables: this process's (less PYTHONPATH when isolated) and the stores'."""
    base = build_environment_variables() if folder is not None else None
    env = child_environment(context, job.project, base=base)
    env["KILN_JOB_ID"] = str(job.id)
    env.pop("KILN_RUN_ID", None)
    if job.run_id is not None:
        env["KILN_RUN_ID"] = job.run_id
    if folder is not None:
        env["VIRTUAL_ENV"] = str(folder)
        env["PATH"] = os.pathsep.join([str(folder / "bin"), env.get("PATH", "")])
    return env


class _Execution:
    """The state of one job's execution: its output, its cancel flag, its chunk counter."""

    def __init__(
        self, context: Context, job: Job, stop: threading.Event, grace: float, adopts: bool
    ) -> None:
        self.context = context
        self.job = job
        self.stop = stop
        self.grace = grace
        self.adopts = adopts
        self.output = Output()
        self.seq = 0
        self.cancelled = False
        self._beat = 0.0
        #: The tree being watched, ended here if the executor itself fails.
        self.tree: ProcessTree | None = None

    # -- the database ------------------------------------------------------------------

    def flush(self) -> bool:
        """Store the new output (or beat the heart when due); whether the job must stop."""
        chunks = self.output.take()
        now = time.monotonic()
        db = self.context.db
        if chunks or now - self._beat >= HEARTBEAT:
            asked = db.run(append_output, self.job.id, self.seq, chunks)
            self.seq += len(chunks)
            self._beat = now
        else:
            asked = db.read(cancel_requested, self.job.id)
        self.cancelled = self.cancelled or asked or self.stop.is_set()
        return self.cancelled

    # -- processes ---------------------------------------------------------------------

    def watch(
        self,
        tree: ProcessTree,
        *,
        usage: TreeUsage | None = None,
        deadline: float | None = None,
    ) -> str:
        """Follow ``tree`` until it exits (``"exited"``), is cancelled, or times out."""
        self.tree = tree
        reader = self.output.follow(tree.output)
        reason = "exited"
        due = 0.0
        while True:
            if reader.is_alive():
                reader.join(TICK)  # wakes at once when the output closes
            else:  # the job closed its output but may run on: look often, act once a tick
                time.sleep(0.05)
                if tree.poll() is None and time.monotonic() < due:
                    continue
            due = time.monotonic() + TICK
            if usage is not None:
                usage.sample(tree.members())
            stop = self.flush()
            if tree.poll() is not None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                reason = "timed_out"
                break
            if stop:
                reason = "cancelled"
                break
        if reason != "exited":
            what = "cancelled" if reason == "cancelled" else "timed out"
            self.output.note(f"job {self.job.id} {what}; ending its processes")
        if usage is not None:
            usage.sample(tree.members())
        left = tree.end(self.grace)
        if reason == "exited" and left:
            self.output.note(f"ended {left} process(es) the job left running")
        reader.join(5.0)
        self.flush()
        return reason

    def run_build_command(self, command: Sequence[str], env: dict[str, str]) -> int:
        tree = ProcessTree(command, cwd=str(self.context.settings.home), env=env)
        tree.start()
        if self.watch(tree) == "cancelled":
            raise Stopped
        return tree.exit_code if tree.exit_code is not None else -1

    def should_stop(self) -> bool:
        return self.flush()

    # -- the job -----------------------------------------------------------------------

    def run(self) -> Outcome:
        job = self.job
        python, folder, key = sys.executable, None, None
        if self.flush():
            return Outcome(JobStatus.CANCELLED, failure="cancelled before it started")
        if job.isolated and job.requirements:
            try:
                built = ensure_environment(
                    self.context.settings.home / "envs",
                    job.requirements,
                    self.run_build_command,
                    should_stop=self.should_stop,
                    note=self.output.note,
                )
            except (Stopped, InterruptedError):
                return Outcome(
                    JobStatus.CANCELLED, failure="cancelled while its environment was built"
                )
            if built.reused:
                self.output.note(f"reusing the isolated environment {built.key[:12]}")
            python, folder, key = str(built.python), built.folder, built.key
        tree = ProcessTree(
            job_command(job, python),
            cwd=job.working_dir,
            env=job_environment(self.context, job, folder),
            adopts=self.adopts,
        )
        try:
            pid = tree.start()
        except OSError as error:
            return Outcome(JobStatus.FAILED, failure=f"the job could not start: {error}")
        self.tree = tree
        began = time.monotonic()
        going = self.context.db.run(
            mark_running,
            job.id,
            host=socket.gethostname(),
            pid=pid,
            started=tree.started or time.time(),
            environment=key,
        )
        if not going:
            self.cancelled = True
        usage = TreeUsage(gpu_probe())
        deadline = began + job.timeout if job.timeout is not None else None
        reason = self.watch(tree, usage=usage, deadline=deadline)
        if tree.rusage is not None:
            usage.add_rusage(tree.rusage)
        used = usage.result()
        code = tree.exit_code
        status, failure = _verdict(reason, code, job)
        if self.output.dropped:
            self.output.note(
                f"{self.output.dropped} characters of output were not stored (the limit is "
                f"{self.output.max_chars})"
            )
            self.flush()
        return Outcome(
            status,
            exit_code=code,
            cpu_seconds=used.cpu_seconds,
            peak_memory_bytes=used.peak_memory_bytes,
            gpu_seconds=used.gpu_seconds,
            wall_seconds=round(time.monotonic() - began, 3),
            failure=failure,
        )


def _verdict(reason: str, code: int | None, job: Job) -> tuple[JobStatus, str | None]:
    if reason == "cancelled":
        return JobStatus.CANCELLED, "cancelled; its processes were ended"
    if reason == "timed_out":
        return JobStatus.TIMED_OUT, f"ran past its timeout of {job.timeout:g} s and was ended"
    if code == 0:
        return JobStatus.SUCCEEDED, None
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return JobStatus.FAILED, f"the job process was killed by {name}"
    return JobStatus.FAILED, f"the job process exited with code {code}"


def run_files(context: Context, job: Job, *, packages: bool = True) -> list[RunArtifact]:
    """The job's output, and the packages it ran with, stored as blobs for its run.

    The packages are an isolated job's pins, else this interpreter's (the
    job's), so ``--requirements-from-run`` can rebuild the job's environment.
    """
    from kiln.tracking._environment import installed_packages

    files: list[tuple[str, bytes]] = []
    text = context.db.read(full_output, job.id)
    if text:
        files.append((LOG_ARTIFACT, text.encode("utf-8")))
    if packages:
        pins = job.requirements if job.isolated and job.requirements else installed_packages()
        files.append((REQUIREMENTS_ARTIFACT, pins.encode("utf-8")))
    stored = []
    for path, content in files:
        blob = context.artifacts.put_bytes(content)
        stored.append(RunArtifact(path, blob.digest, blob.size))
    return stored


def record_outcome(context: Context, job: Job, outcome: Outcome) -> Job:
    """Store the output and packages as blobs and record the end (run, metrics, files)."""
    return context.db.run(finish_job, job.id, outcome, files=run_files(context, job))


def execute_job(
    context: Context,
    job: Job,
    *,
    stop: threading.Event | None = None,
    grace: float = KILL_GRACE,
    adopts: bool = False,
) -> Job:
    """Run ``job`` to its end here and record it; the job as recorded.

    ``stop`` set (the supervisor was signalled) counts as a cancel.
    ``adopts``: this process is a subreaper that runs nothing but the job.
    """
    execution = _Execution(context, job, stop or threading.Event(), grace, adopts)
    try:
        outcome = execution.run()
    except Exception as error:
        if execution.tree is not None:  # never leave the job running unwatched
            with contextlib.suppress(Exception):
                execution.tree.end(grace)
        execution.output.note(f"the executor failed: {type(error).__name__}: {error}")
        with contextlib.suppress(Exception):  # the store may be what failed
            execution.flush()
        outcome = Outcome(JobStatus.FAILED, failure=f"the executor failed: {error}")
    return record_outcome(context, job, outcome)
