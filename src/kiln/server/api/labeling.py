"""``/api/v1/labeling``: labeling projects, the annotator's queue, the review queue, export.

Who may do what, in the request's project:

- **viewers** list and read projects, tasks, the review queue and the agreement
  report;
- **editors** are the annotators: they take their next task, answer or skip
  it (the annotator is the caller's user name), create projects and export
  the labels as a dataset version;
- **admins** are the reviewers: their label for a task in the review queue
  is final; they alone see gold answers and webhook URLs, and delete projects
  (which deletes every annotator's answers).

Annotators label blind: an open task shows a caller only their own answer
(``kiln.labeling._ui_support.task_view``). A label the project's schema
refuses is a 400 naming ``label`` with the schema's reason; answering a task
that is no longer open is a 409.

Export runs inline for a project of up to ``INLINE_LIMIT`` labelled tasks
(20,000): the service reads and writes a page at a time (5,000 tasks), so
memory stays flat, and the answer is 201 with the new version. A larger
project (or ``"background": true``) is exported by a tracked job instead
(``kiln.labeling._export_job``): 202 with the job and a ``Location`` to poll,
so no request waits minutes, and the job has logs, status and cancel. The
job's entry point is Kiln's own; only its checked arguments come from the
body, which is why this route may start a job when ``/api/v1/jobs`` may not.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kiln.auth import Principal, Role, role_in
from kiln.labeling._answers import answer as answer_task
from kiln.labeling._export import export_dataset
from kiln.labeling._export_job import INLINE_LIMIT, in_background, submit_export
from kiln.labeling._projects import MAX_OVERLAP, NAME_LENGTH, delete_project, get_project
from kiln.labeling._projects import list_projects as list_labeling_projects
from kiln.labeling._tasks import (
    MAX_COMMENT,
    get_task,
    list_tasks,
    next_task,
    review_queue,
    review_task,
)
from kiln.labeling._ui_support import create_with_items, project_view, remaining_for, task_view
from kiln.server.deps import ContextDep, DbDep, Editor, ProjectAdmin, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/labeling", tags=["labeling"])

NamePath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]
TaskId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The task's id.")]
#: Tasks per page of ``GET .../tasks`` and the review queue, at most.
MAX_PAGE = 1000
Status = Literal["open", "complete", "reviewed"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProjectCreate(_Body):
    name: str = Field(description="1-128 printable characters, no '/' or '\\'.")
    # Checked by LabelSchema.parse, whose errors name the schema's field (schema.labels).
    schema_: dict[str, Any] = Field(
        alias="schema", description="task_type, data_kind, labels, text_field, shortcuts, …"
    )
    overlap: int = Field(default=1, ge=1, le=MAX_OVERLAP, description="Answers per task.")
    description: str = Field(default="", max_length=4000)
    dataset: str | None = Field(
        default=None, min_length=1, max_length=300, description="name@version: its rows."
    )
    key_column: str | None = Field(default=None, min_length=1, max_length=256)
    gold_column: str | None = Field(default=None, min_length=1, max_length=256)
    limit: int | None = Field(default=None, ge=1, description="The dataset's first rows only.")
    webhooks: list[str] = Field(default_factory=list, max_length=20)


class Answer(_Body):
    label: Any = Field(default=None, description="As the schema takes it; none with skip.")
    skip: bool = False
    comment: str = Field(default="", max_length=MAX_COMMENT)
    seconds: float | None = Field(default=None, ge=0, description="Time spent on the task.")


class Review(_Body):
    label: Any = Field(description="The final label, as the schema takes it.")
    note: str = Field(default="", max_length=MAX_COMMENT)


class Export(_Body):
    dataset: str = Field(min_length=1, max_length=128, description="The dataset to add to.")
    description: str = Field(default="", max_length=4000)
    background: bool | None = Field(
        default=None,
        description=f"Export as a job (202); null: past {INLINE_LIMIT:,} labelled tasks.",
    )


def is_reviewer(caller: Principal, project: str) -> bool:
    """Whether the caller reviews in ``project`` (admins): they see gold answers and webhooks."""
    role = role_in(caller, project)
    return role is not None and role.allows(Role.ADMIN)


@router.get("")
def list_all(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The project's labeling projects by name, with their task counts by status."""
    reviewer = is_reviewer(caller, project)
    found = db.read(list_labeling_projects, project)
    return JSONResponse({"projects": [project_view(p, reviewer=reviewer) for p in found]})


@router.post("", status_code=201)
def create(
    body: ProjectCreate,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """A new labeling project; with ``dataset`` its rows become the tasks (409: name taken)."""
    note_audit_target(request.scope, labeling_project=body.name)
    made = create_with_items(
        context,
        project,
        body.name,
        body.schema_,
        dataset=body.dataset,
        overlap=body.overlap,
        description=body.description,
        webhooks=body.webhooks,
        key_column=body.key_column,
        gold_column=body.gold_column,
        limit=body.limit,
        user=caller.user,
    )
    reviewer = is_reviewer(caller, project)
    return JSONResponse(project_view(made, reviewer=reviewer), status_code=201)


@router.get("/{name}")
def describe(name: NamePath, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The project: schema, overlap, source, counts (tasks, open, complete, needs_review)."""
    found = db.read(get_project, project, name)
    return JSONResponse(project_view(found, reviewer=is_reviewer(caller, project)))


@router.delete("/{name}", status_code=204)
def delete(name: NamePath, db: DbDep, caller: ProjectAdmin, project: RequestProject) -> Response:
    """Delete the project with its tasks and every answer (exported versions stay)."""
    db.run(delete_project, project, name)
    return Response(status_code=204)


@router.get("/{name}/agreement")
def agreement(name: NamePath, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """How the annotators agree (Krippendorff's alpha, Fleiss' and Cohen's kappa) and each
    annotator's record: answers, skips, median seconds, accuracy on gold tasks."""
    from kiln.labeling._quality import agreement_report

    return JSONResponse(db.read(agreement_report, project, name).to_dict())


@router.get("/{name}/next")
def next_for_caller(
    name: NamePath, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """The caller's next task (``{"task": null}`` when none is left) and how many remain."""
    found = db.read(next_task, project, name, caller.user)
    remaining = db.read(remaining_for, project, name, caller.user)
    task = None if found is None else task_view(found, viewer=caller.user, reviewer=False)
    return JSONResponse({"task": task, "remaining": remaining})


@router.post("/{name}/tasks/{task_id}/annotations")
def answer(
    name: NamePath,
    task_id: TaskId,
    body: Answer,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Answer (or skip) a task as the caller; ``completed`` once enough annotators answered.

    Completing a task tells the project's webhooks (after the answer is stored).
    """
    done = answer_task(
        context,
        project,
        name,
        task_id,
        caller.user,
        body.label,
        skip=body.skip,
        comment=body.comment,
        seconds=body.seconds,
    )
    task = task_view(done.task, viewer=caller.user, reviewer=is_reviewer(caller, project))
    return JSONResponse({"task": task, "completed": done.completed})


@router.get("/{name}/tasks")
def tasks(
    name: NamePath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    status: Status | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> JSONResponse:
    """A page of tasks by id, and ``total`` with that status; ``next_offset`` null at the end."""
    found, total = db.read(list_tasks, project, name, status=status, offset=offset, limit=limit)
    reviewer = is_reviewer(caller, project)
    return JSONResponse(
        {
            "tasks": [task_view(t, viewer=caller.user, reviewer=reviewer) for t in found],
            "total": total,
            "next_offset": offset + len(found) if offset + len(found) < total else None,
        }
    )


@router.get("/{name}/tasks/{task_id}")
def task(
    name: NamePath, task_id: TaskId, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """One task with its answers (an open task shows only the caller's own)."""
    found = db.read(get_task, project, name, task_id)
    return JSONResponse(task_view(found, viewer=caller.user, reviewer=is_reviewer(caller, project)))


@router.get("/{name}/review")
def review_list(
    name: NamePath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> JSONResponse:
    """Tasks waiting for a reviewer, oldest first, with every answer and the reason."""
    found = db.read(review_queue, project, name, limit=limit)
    reviewer = is_reviewer(caller, project)
    return JSONResponse(
        {"tasks": [task_view(t, viewer=caller.user, reviewer=reviewer) for t in found]}
    )


@router.post("/{name}/tasks/{task_id}/review")
def review(
    name: NamePath,
    task_id: TaskId,
    body: Review,
    db: DbDep,
    caller: ProjectAdmin,
    project: RequestProject,
) -> JSONResponse:
    """The reviewer's final label: it becomes the task's consensus and the task ``reviewed``."""
    found = db.run(review_task, project, name, task_id, caller.user, body.label, note=body.note)
    return JSONResponse(task_view(found, viewer=caller.user, reviewer=True))


@router.post("/{name}/export", status_code=201, responses={202: {"description": "A job."}})
def export(
    name: NamePath,
    body: Export,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """The labelled tasks as the next version of ``dataset`` (201), or a job exporting them
    (202, ``Location`` its URL); 400 when none is labelled yet."""
    note_audit_target(request.scope, dataset=body.dataset)
    if in_background(context, project, name, body.background):
        job = submit_export(
            context, project, name, body.dataset, description=body.description, user=caller.user
        )
        url = f"/api/v1/jobs/{job.id}"
        return JSONResponse(
            {"job": job.to_dict(), "job_url": url, "page_url": f"/jobs/{job.id}"},
            status_code=202,
            headers={"Location": url},
        )
    version = export_dataset(
        context, project, name, body.dataset, description=body.description, user=caller.user
    )
    return JSONResponse({"dataset": version.to_dict(), "ref": version.uri}, status_code=201)
