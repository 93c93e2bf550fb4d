"""Starting ``python -m kiln pipelines resume RUN`` for a REST call, without waiting for it.

A resume imports the user's pipeline code and runs its steps, which must not
happen inside the server process (it would block a worker, and user code
would share the server's memory). The server starts the CLI in the run's
recorded working directory, over the server's own stores and project, and
answers once the run record says the resume began (its ``resumes`` count
grew), so the caller's next read shows it RUNNING; the record then shows the
progress. A process that fails before that (the pipeline cannot be imported
any more, say) is refused with its own error message. A watcher thread reaps
the process and logs its tail when it exits with an error later, since by
then nobody waits for its answer.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from kiln.config import Settings
from kiln.errors import Conflict
from kiln.pipelines import PipelineRun, PipelineStatus

__all__ = ["RESUMABLE", "launch_resume"]

log = logging.getLogger("kiln.server")

RESUMABLE = (PipelineStatus.PAUSED, PipelineStatus.FAILED)
#: Characters of a failed resume's stderr that go to the server's log or the error.
_TAIL = 4000
#: Seconds to wait for the resume to begin before answering anyway.
START_TIMEOUT = 15.0


def _check_resumable(run: PipelineRun) -> Path:
    if run.status not in RESUMABLE:
        raise Conflict(
            f"pipeline run {run.id} is {run.status.value}; only PAUSED or FAILED runs can be "
            "resumed"
        )
    if not run.target:
        raise Conflict(
            f"pipeline run {run.id} cannot be resumed: its pipeline was defined where it cannot "
            "be imported again (in __main__ or inside a function); define it at module level of "
            "an importable module"
        )
    workdir = Path(run.workdir) if run.workdir else None
    if workdir is None or not workdir.is_dir():
        raise Conflict(
            f"pipeline run {run.id} cannot be resumed here: its working directory "
            f"{run.workdir!r} does not exist on the server's machine; resume it where it ran "
            f"with `kiln pipelines resume {run.id}`"
        )
    return workdir


def _reason(stderr: str) -> str:
    """What the CLI said went wrong: its last ``error:`` message (rich wraps long lines)."""
    text = " ".join(stderr.split())
    at = text.rfind("error:")
    return text[at + len("error:") :].strip() if at >= 0 else text[-500:]


def _environment(settings: Settings, project: str, user: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("KILN_")}
    env.update(
        {
            "KILN_HOME": str(settings.home),
            "KILN_DATABASE_URL": settings.resolved_database_url,
            "KILN_ARTIFACT_ROOT": settings.resolved_artifact_root,
            "KILN_PROJECT": project,
            "KILN_LOG_LEVEL": settings.log_level,
        }
    )
    if user:
        # getpass.getuser() reads LOGNAME first: an accepted gate's alert then names the
        # person who pressed the button, not the account the server runs as.
        env["LOGNAME"] = user
    return env


def launch_resume(
    settings: Settings,
    project: str,
    run: PipelineRun,
    *,
    accept: bool,
    user: str,
    reload: Callable[[], PipelineRun],
) -> int:
    """Start the resume of ``run`` in the background; returns the process id.

    Refuses (``Conflict``) a run that is not PAUSED or FAILED, one whose
    pipeline cannot be imported again, one whose working directory is not on
    this machine, and a resume that fails before it begins. ``reload`` reads
    the run's record again, to see the resume begin.
    """
    workdir = _check_resumable(run)
    command = [sys.executable, "-m", "kiln", "pipelines", "resume", run.id]
    if accept:
        command.append("--accept")
    # Closed by the watcher once the process is gone, so no context manager here.
    errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # noqa: SIM115
    try:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=_environment(settings, project, user),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
    except OSError as error:
        errors.close()
        raise Conflict(f"could not start the resume of pipeline run {run.id}: {error}") from None
    log.info("resuming pipeline run %s (accept=%s) as process %d", run.id, accept, process.pid)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and reload().resumes == run.resumes:
        code = process.poll()
        if code is not None and reload().resumes == run.resumes:
            with errors:
                errors.seek(0)
                tail = errors.read()[-_TAIL:].strip()
            said = _reason(tail) or f"it exited with {code}"
            raise Conflict(f"the resume of pipeline run {run.id} failed before it began: {said}")
        time.sleep(0.1)

    def watch() -> None:
        with errors:
            code = process.wait()
            if code != 0:
                errors.seek(0)
                tail = errors.read()[-_TAIL:].strip()
                log.warning("resume of pipeline run %s exited with %d: %s", run.id, code, tail)

    threading.Thread(target=watch, name=f"kiln-resume-{run.id[:8]}", daemon=True).start()
    return process.pid
