"""Training jobs: the list, and one job's status, entry, resources, usage, output and Cancel.

Pages read through ``kiln.training``'s SDK functions, as ``/api/v1/jobs``
does (so a job whose supervisor died shows as failed here too). A running
job's page follows its output live: ``jobs.js`` asks ``/api/v1/jobs/{id}/logs``
for new chunks every second and reloads the page once the status changes;
without JavaScript the page reloads itself. Cancel is a button that calls
``POST /api/v1/jobs/{id}/cancel`` (``kiln.js``, with the UI's CSRF header),
rendered for editors while the job has not ended; the API checks the role
again.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from kiln.server.deps import ContextDep
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render
from kiln.training._job_control import get_job, list_jobs
from kiln.training._job_logs import log_tail
from kiln.training._jobs import JobStatus

router = APIRouter(route_class=UiRoute)

PAGE_SIZE = 50
#: Characters of output the job page shows at first (the newest); the API has the rest.
LOG_CHARS = 256 * 1024
#: Seconds between reloads of a running job's page without JavaScript.
REFRESH_SECONDS = 3

JobId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def job_url(job_id: int) -> str:
    return f"/jobs/{job_id}"


def memory(value: int | None) -> str:
    """Bytes as ``512.0 MiB``; ``—`` when unknown."""
    if value is None:
        return "—"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value} B"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} s"


@router.get("/jobs")
def jobs_list(
    request: Request,
    context: ContextDep,
    viewing: Reader,
    status: JobStatus | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The project's training jobs, newest first."""
    jobs = list_jobs(
        status=status, limit=PAGE_SIZE, offset=offset, context=context, project=viewing.project
    )

    def page_url(at: int) -> str:
        shown = {"status": status.value} if status else {}
        if at:
            shown["offset"] = str(at)
        return "/jobs" + (f"?{urlencode(shown)}" if shown else "")

    return render(
        request,
        "jobs.html",
        viewing,
        title="Training jobs",
        jobs=jobs,
        status=status.value if status else "",
        statuses=[s.value for s in JobStatus],
        previous_url=page_url(max(offset - PAGE_SIZE, 0)) if offset else None,
        next_url=page_url(offset + PAGE_SIZE) if len(jobs) == PAGE_SIZE else None,
        summary=f"{offset + 1}-{offset + len(jobs)}" if jobs else "none",
        job_url=job_url,
        memory=memory,
        seconds=seconds,
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: JobId, context: ContextDep, viewing: Reader) -> Response:
    """One job: status, entry, resources, its run, what it used, its output; Cancel."""
    job = get_job(job_id, context=context, project=viewing.project)
    tail = context.db.read(log_tail, viewing.project, job.id, LOG_CHARS)
    return render(
        request,
        "job.html",
        viewing,
        title=f"Job {job.id} · {job.name}",
        job=job,
        tail=tail,
        running=not job.is_finished,
        refresh=REFRESH_SECONDS,
        api_url=f"/api/v1/jobs/{job.id}",
        memory=memory,
        seconds=seconds,
    )
