"""The detached process that owns one job: ``python -m kiln.training._job_supervisor <job id>``.

``submit_job`` starts it in a session of its own and returns at once. It
opens the store named by its ``KILN_*`` variables, records itself on the
job (host, pid, start time: how ``list``/``show`` tell it died), and runs
the executor here (runner ``local``, as the subreaper of the job's tree) or
in a Ray task (runner ``ray``). SIGTERM, SIGINT or SIGHUP cancel the job:
its tree is ended and the job recorded ``cancelled``, so ``kill`` on the
supervisor is as clean as ``kiln jobs cancel``. Its own output (only its
failures; the job's output goes to the database) is in
``<kiln home>/jobs/<id>/supervisor.log``.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.training._jobs import Job

__all__ = ["main", "supervise"]


def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def supervise(context: Context, job_id: int, stop: threading.Event) -> Job:
    """Run job ``job_id`` to its end with its runner; the job as recorded."""
    import os

    from kiln.training._job_executor import record_outcome
    from kiln.training._job_records import Outcome, claim_job
    from kiln.training._jobs import JobStatus

    job = context.db.run(
        claim_job,
        job_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        started=_process_started(os.getpid()) or 0.0,
    )
    if job.is_finished:
        return job
    if job.runner == "ray":
        from kiln.training._job_ray import run_on_ray

        try:
            return run_on_ray(context, job, stop)
        except Exception as error:  # Ray could not start or refused the task
            outcome = Outcome(JobStatus.FAILED, failure=f"the ray runner failed: {error}")
            return record_outcome(context, job, outcome)
    from kiln.training._job_executor import execute_job
    from kiln.training._job_process import become_subreaper

    return execute_job(context, job, stop=stop, adopts=become_subreaper())


def main(argv: list[str] | None = None) -> int:
    from kiln.config import Settings
    from kiln.context import Context

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -m kiln.training._job_supervisor JOB_ID", file=sys.stderr)
        return 2
    stop = threading.Event()

    def stopping(signum: int, frame: object) -> None:
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stopping)
    context = Context(Settings.load())
    try:
        job = supervise(context, int(args[0]), stop)
    except Exception:
        traceback.print_exc()
        _fail(context, int(args[0]))
        return 1
    finally:
        context.close()
    return 0 if job.status.value == "succeeded" else 1


def _fail(context: Context, job_id: int) -> None:
    """Record a supervisor crash on the job, if the store can still be reached."""
    from kiln.training._job_records import Outcome, finish_job
    from kiln.training._jobs import JobStatus

    try:
        failure = f"the supervisor failed: {traceback.format_exc(limit=1).strip().splitlines()[-1]}"
        context.db.run(finish_job, job_id, Outcome(JobStatus.FAILED, failure=failure))
    except Exception:
        traceback.print_exc()


if __name__ == "__main__":
    sys.exit(main())
