"""``/api/v1/pipeline-runs``: pipeline runs, their step runs and logs, and resuming a run.

Viewers read; editors resume. A resume is not run inside the server: it
starts ``python -m kiln pipelines resume RUN [--accept]`` in the run's
recorded working directory (``kiln.server.launch``) and answers 202 as soon as
the resume has begun; the run record then shows the progress (RUNNING, then
SUCCEEDED, FAILED or PAUSED again).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from kiln.pipelines import PipelineRun, PipelineStatus, StepRun
from kiln.pipelines._records import MAX_LIST
from kiln.server.api._json import jsonable
from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/pipeline-runs", tags=["pipelines"])

#: Fields a step run's JSON leaves to the logs route.
_LOG_FIELDS = frozenset({"stdout", "stderr"})


class Resume(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accept: bool = False


def run_to_json(run: PipelineRun, *, steps: bool) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(run, exclude=frozenset({"steps"}))
    body["duration_seconds"] = run.duration_seconds
    if steps:
        body["steps"] = [step_to_json(step) for step in run.steps]
    return body


def step_to_json(step: StepRun) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(step, exclude=_LOG_FIELDS)
    body["has_logs"] = bool(step.stdout or step.stderr)
    return body


@router.get("")
def list_runs(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    status: PipelineStatus | None = None,
    pipeline: Annotated[str | None, Query(min_length=1, max_length=256)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> JSONResponse:
    """Runs newest first; ``next_offset`` is where the next page starts (null: no more)."""
    from kiln.pipelines import list_pipeline_runs

    found = db.read(
        list_pipeline_runs, project, pipeline=pipeline, status=status, limit=limit, offset=offset
    )
    return JSONResponse(
        {
            "runs": [run_to_json(run, steps=False) for run in found],
            "next_offset": offset + len(found) if len(found) == limit else None,
        }
    )


@router.get("/{run_id}")
def get_run(run_id: str, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """A run with its step runs in call order (logs come from ``…/steps/{invocation}/logs``)."""
    from kiln.pipelines import get_pipeline_run

    return JSONResponse(run_to_json(db.read(get_pipeline_run, project, run_id), steps=True))


@router.get("/{run_id}/steps/{invocation}")
def get_step(
    run_id: str, invocation: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.pipelines import get_step_run

    return JSONResponse(step_to_json(db.read(get_step_run, project, run_id, invocation)))


@router.get("/{run_id}/steps/{invocation}/logs")
def get_step_logs(
    run_id: str, invocation: str, context: ContextDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """A step's whole stdout and stderr (from the stored blob when the record keeps a tail)."""
    from kiln.pipelines import get_step_run

    step = context.db.read(get_step_run, project, run_id, invocation)
    streams = {}
    for name, text, digest in (
        ("stdout", step.stdout, step.stdout_digest),
        ("stderr", step.stderr, step.stderr_digest),
    ):
        if digest is not None and context.artifacts.exists(digest):
            text = context.artifacts.read_bytes(digest).decode("utf-8", errors="replace")
        streams[name] = text
    return JSONResponse({"run_id": run_id, "invocation": step.invocation, **streams})


@router.post("/{run_id}/resume", status_code=202)
def resume_run(
    run_id: str,
    body: Resume,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Resume a PAUSED or FAILED run in the background (``accept``: let paused gates through).

    409 when the run is in another state, or cannot be imported again here.
    """
    from kiln.pipelines import get_pipeline_run
    from kiln.server.launch import launch_resume

    note_audit_target(request.scope, accept=body.accept)
    run = context.db.read(get_pipeline_run, project, run_id)
    launch_resume(
        context.settings,
        project,
        run,
        accept=body.accept,
        user=caller.user,
        reload=lambda: context.db.read(get_pipeline_run, project, run_id),
    )
    now = context.db.read(get_pipeline_run, project, run_id)
    return JSONResponse(
        {"id": run.id, "status": now.status.value, "accept": body.accept, "resumes": now.resumes},
        status_code=202,
    )
