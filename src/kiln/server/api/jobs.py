"""``/api/v1/jobs``: training jobs, their output, and cancelling one.

Viewers list and read jobs and their output; editors cancel. There is no
submission over REST on purpose: a job runs arbitrary code, and a server
that ran code posted to it would hand every editor a shell on the server.
Jobs are submitted where the code is (``kiln jobs submit``, ``submit_job``).

Reads go through ``kiln.training``'s SDK functions, which first fail the
jobs of supervisors that died on this host; a cancel sets the job's flag
(its executor ends the whole process tree within half a second, wherever it
runs) and signals the supervisor when it runs on the server's host.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from kiln.server.deps import ContextDep, Editor, RequestProject, Viewer
from kiln.server.responses import JSONResponse
from kiln.training._job_control import cancel_job, get_job, job_logs, list_jobs
from kiln.training._jobs import MAX_LIST, JobStatus

router = APIRouter(prefix="/jobs", tags=["training"])

JobId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The job's number.")]


@router.get("")
def list_all(
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JSONResponse:
    """Jobs newest first; ``next_offset`` is where the next page starts (null: no more)."""
    found = list_jobs(status=status, limit=limit, offset=offset, context=context, project=project)
    return JSONResponse(
        {
            "jobs": [job.to_dict() for job in found],
            "next_offset": offset + len(found) if len(found) == limit else None,
        }
    )


@router.get("/{job_id}")
def describe(
    job_id: JobId, context: ContextDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """One job: entry, arguments, resources, status, its run, what it used."""
    return JSONResponse(get_job(job_id, context=context, project=project).to_dict())


@router.get("/{job_id}/logs")
def logs(
    job_id: JobId,
    context: ContextDep,
    caller: Viewer,
    project: RequestProject,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="First chunk to read")] = 0,
) -> JSONResponse:
    """Output (stdout and stderr in order) from chunk ``offset``; ask again from ``next_offset``.

    ``finished`` is true once the job has ended and nothing more is left to read.
    """
    found = job_logs(job_id, offset, context=context, project=project)
    return JSONResponse(
        {
            "job_id": found.job_id,
            "text": found.text,
            "offset": found.offset,
            "next_offset": found.next_offset,
            "status": found.status.value,
            "finished": found.finished,
        }
    )


@router.post("/{job_id}/cancel", status_code=202)
def cancel(
    job_id: JobId, context: ContextDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Ask the job to stop (202): its process tree is ended and it ends ``cancelled``.

    409 when the job has already ended.
    """
    return JSONResponse(
        cancel_job(job_id, context=context, project=project).to_dict(), status_code=202
    )
