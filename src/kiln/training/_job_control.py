"""The jobs SDK: submit, get, list, cancel, logs, wait; what the CLI, the API and the UI call.

::

    submit_job     check the spec → a queued job and its run → start the supervisor
                   (python -m kiln.training._job_supervisor ID, detached) → return
    get_job, list_jobs
                   reconcile first: an active job whose supervisor is gone is failed
    cancel_job     cancel_requested, then SIGTERM to the supervisor when it runs here
    job_logs       output from a chunk offset; wait_job follows it to the job's end

A supervisor on this host is dead when no process has its pid and start
time; on another host, when the job's heartbeat is older than
``STALE_SECONDS``. A dead supervisor's job is recorded ``failed`` with
"the supervisor died", and its orphaned job process (pid and start time)
is ended.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kiln.context import Context, child_environment, get_context
from kiln.errors import InvalidInput
from kiln.pipelines._resources import Resources
from kiln.training._job_envs import normalize_pins, pins_from_run
from kiln.training._job_executor import run_files
from kiln.training._job_logs import JobLogs, read_logs
from kiln.training._job_records import mark_dead
from kiln.training._job_spec import check_spec
from kiln.training._jobs import (
    Job,
    JobSpec,
    JobStatus,
    active_jobs,
    create_job,
    request_cancel,
)
from kiln.training._jobs import get_job as _get_job
from kiln.training._jobs import list_jobs as _list_jobs

__all__ = [
    "cancel_job",
    "get_job",
    "job_logs",
    "list_jobs",
    "reconcile_jobs",
    "submit_job",
    "wait_job",
]

#: A running job on another host whose heartbeat is older than this is taken as dead.
STALE_SECONDS = 120.0
#: How close a process's start time must be to the recorded one to be the same process.
_SAME_START = 1.0
_ENTRY = "from kiln.training._job_supervisor import main; import sys; sys.exit(main())"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def _requirements(
    context: Context, project: str, requirements: str | Path | None, from_run: str | None
) -> str | None:
    if requirements is not None and from_run is not None:
        raise InvalidInput(
            "give either requirements (a file) or requirements_from_run, not both",
            field="requirements",
        )
    if requirements is not None:
        path = Path(requirements).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(
                f"cannot read the requirements file {path}: {error.strerror or error}",
                field="requirements",
            ) from None
        return normalize_pins(text)
    if from_run is not None:
        return pins_from_run(context, project, from_run)
    return None


def supervisor_environment(context: Context, project: str) -> dict[str, str]:
    """This environment, pointing the supervisor at the same stores whatever kiln.toml says."""
    env = child_environment(context, project)
    env.pop("KILN_RUN_ID", None)  # a job submitted from inside a job gets a run of its own
    return env


def _start_supervisor(context: Context, job: Job) -> None:
    from kiln.training._job_records import Outcome, claim_job, finish_job

    folder = context.settings.home / "jobs" / str(job.id)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "supervisor.log", "ab") as log:
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _ENTRY, str(job.id)],
                cwd=str(folder),  # never the user's folder: a kiln.py there would shadow Kiln
                env=supervisor_environment(context, job.project),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C meant for the submitter does not stop the job
            )
        except OSError as error:
            outcome = Outcome(JobStatus.FAILED, failure=f"its supervisor could not start: {error}")
            context.db.run(finish_job, job.id, outcome)
            raise
    # Reap it when it ends (no zombie); the job's record says how it went.
    threading.Thread(target=process.wait, name=f"kiln-job-{job.id}", daemon=True).start()
    context.db.run(
        claim_job,
        job.id,
        host=socket.gethostname(),
        pid=process.pid,
        started=_start_time(process.pid) or time.time(),
    )


def submit_job(
    entry: str,
    args: Sequence[str] = (),
    *,
    name: str | None = None,
    resources: str | Mapping[str, Any] | Resources | None = None,
    runner: str = "local",
    timeout: float | str | None = None,
    workdir: str | Path | None = None,
    experiment: str = "jobs",
    isolated: bool = False,
    requirements: str | Path | None = None,
    requirements_from_run: str | None = None,
    context: Context | None = None,
    project: str | None = None,
    user: str | None = None,
) -> Job:
    """Run ``entry`` (``script.py`` or ``module:function``) as a tracked job; return at once.

    The job runs in a process of its own, watched by a detached supervisor:
    follow it with :func:`wait_job` or ``kiln jobs logs --follow``.
    ``requirements`` (a file) or ``requirements_from_run`` (a run's captured
    packages) run it in an isolated environment built from those pins, and
    imply ``isolated``. ``user`` is recorded as who submitted the job and its
    run (default: the OS user), so a server submitting for a caller names the
    caller, not the account the server runs as.
    """
    context = context or get_context()
    project = project or context.settings.project
    pins = _requirements(context, project, requirements, requirements_from_run)
    if isolated and pins is None:
        raise InvalidInput(
            "an isolated job needs its pins: give requirements (a requirements file) or "
            "requirements_from_run (a run whose environment was captured)",
            field="requirements",
        )
    fields = check_spec(
        entry,
        args,
        name=name,
        workdir=workdir,
        runner=runner,
        resources=resources,
        timeout=timeout,
        isolated=pins is not None,
        experiment=experiment,
    )
    spec = JobSpec(**fields, requirements=pins)
    job = context.db.run(create_job, project, spec, user=_user() if user is None else user)
    _start_supervisor(context, job)
    return get_job(job.id, context=context, project=project)


# -- dead supervisors --------------------------------------------------------------------


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return float(process.create_time())
    except psutil.Error:
        return None


def _is_process(pid: int | None, started: float | None) -> bool:
    """Whether process ``pid`` runs here and is the one that started at ``started``."""
    if pid is None:
        return False
    found = _start_time(pid)
    return found is not None and (started is None or abs(found - started) <= _SAME_START)


def _dead(job: Job, now: float) -> str | None:
    """Why ``job``'s supervisor is taken as dead, or None while it may be alive."""
    if job.host == socket.gethostname():
        if job.supervisor_pid is None or _is_process(job.supervisor_pid, job.supervisor_started):
            return None
        return f"the supervisor died (pid {job.supervisor_pid} on {job.host} is gone)"
    if job.heartbeat_at is None:
        return None
    silent = now - job.heartbeat_at.timestamp()
    if job.status is JobStatus.RUNNING and silent > STALE_SECONDS:
        return f"the supervisor died: no heartbeat from host {job.host or '?'} for {silent:.0f} s"
    return None


def _end_orphan(job: Job) -> None:
    """End a dead supervisor's job process, its group and its descendants, when it runs here.

    What its supervisor had adopted (children whose parents ended) went with it.
    """
    import psutil

    if job.host != socket.gethostname() or not _is_process(job.pid, job.process_started):
        return
    assert job.pid is not None
    try:
        tree = [psutil.Process(job.pid), *psutil.Process(job.pid).children(recursive=True)]
    except psutil.Error:
        return
    for sig, pause in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, sig)
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.send_signal(sig)
        _, alive = psutil.wait_procs(tree, timeout=pause)
        if not alive:
            return


def reconcile_jobs(context: Context | None = None, project: str | None = None) -> list[int]:
    """Fail the active jobs (of ``project``, or all) whose supervisor died; their ids."""
    context = context or get_context()
    now = time.time()
    failed: list[int] = []
    for job in context.db.read(active_jobs, project):
        reason = _dead(job, now)
        if reason is None:
            continue
        _end_orphan(job)
        files = run_files(context, job, packages=False)
        if context.db.run(mark_dead, job.id, job.supervisor_pid, reason, files=files):
            failed.append(job.id)
    return failed


# -- reading and cancelling --------------------------------------------------------------


def get_job(
    job_id: int | str, *, context: Context | None = None, project: str | None = None
) -> Job:
    """Job ``job_id`` of the project (after checking its supervisor is alive)."""
    context = context or get_context()
    project = project or context.settings.project
    job = context.db.read(_get_job, project, job_id)
    if not job.is_finished and reconcile_jobs(context, project):
        job = context.db.read(_get_job, project, job_id)
    return job


def list_jobs(
    *,
    status: JobStatus | str | None = None,
    limit: int = 50,
    offset: int = 0,
    context: Context | None = None,
    project: str | None = None,
) -> list[Job]:
    """The project's jobs, newest first (jobs of dead supervisors shown failed)."""
    context = context or get_context()
    project = project or context.settings.project
    reconcile_jobs(context, project)
    return context.db.read(_list_jobs, project, status=status, limit=limit, offset=offset)


def cancel_job(
    job_id: int | str, *, context: Context | None = None, project: str | None = None
) -> Job:
    """Ask job ``job_id`` to stop: its whole process tree is ended and it ends ``cancelled``.

    The executor sees the request within half a second wherever it runs; a
    supervisor on this host is also signalled. ``Conflict`` once it ended.
    """
    context = context or get_context()
    project = project or context.settings.project
    get_job(job_id, context=context, project=project)  # a dead supervisor's job has ended
    job = context.db.run(request_cancel, project, job_id)
    if job.host == socket.gethostname() and _is_process(job.supervisor_pid, job.supervisor_started):
        assert job.supervisor_pid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(job.supervisor_pid, signal.SIGTERM)
    return job


def job_logs(
    job_id: int | str,
    offset: int = 0,
    *,
    context: Context | None = None,
    project: str | None = None,
) -> JobLogs:
    """The job's output from chunk ``offset`` on; pass ``next_offset`` back for more."""
    context = context or get_context()
    project = project or context.settings.project
    logs = context.db.read(read_logs, project, job_id, offset)
    if not logs.status.is_finished and reconcile_jobs(context, project):
        logs = context.db.read(read_logs, project, job_id, offset)
    return logs


def wait_job(
    job_id: int | str,
    *,
    timeout: float | None = None,
    on_output: Callable[[str], None] | None = None,
    poll: float = 0.5,
    context: Context | None = None,
    project: str | None = None,
) -> Job:
    """Wait for the job to end, handing its output to ``on_output`` as it comes; the job.

    With ``timeout``, returns the job as it is once that many seconds passed.
    """
    context = context or get_context()
    project = project or context.settings.project
    deadline = None if timeout is None else time.monotonic() + timeout
    offset = 0
    while True:
        logs = job_logs(job_id, offset, context=context, project=project)
        if logs.text and on_output is not None:
            on_output(logs.text)
        offset = logs.next_offset
        if logs.finished:
            return get_job(job_id, context=context, project=project)
        if logs.next_offset > logs.offset:
            continue  # more chunks may be waiting
        if deadline is not None and time.monotonic() >= deadline:
            return get_job(job_id, context=context, project=project)
        time.sleep(poll)
