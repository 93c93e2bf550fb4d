"""Labeling: the projects, one project, the labeling page, the review queue, the agreement.

Pages read through ``kiln.labeling``'s services, as ``/api/v1/labeling``
does, and every change is a call to that API from ``labeling.js`` (with the
UI's CSRF header): an answer, a skip, a reviewer's decision; export and
delete go through ``kiln.js``'s ``data-api`` forms. The labeling page shows
the caller's next task (``next_task`` for their user name) by the schema's
data kind — text, a table of fields, or an image when its field holds an
http(s) or ``data:image/`` URL (anything else is shown as text: the server
never serves a file named in a task) — with the label buttons and their
shortcuts, and the model's pre-annotation chosen already. Editors label;
admins review (``kiln.server.api.labeling`` says why); viewers read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from kiln.auth import Role
from kiln.labeling._entities import LabelingProject, Task
from kiln.labeling._projects import NAME_LENGTH, get_project, list_projects
from kiln.labeling._schema import LabelSchema
from kiln.labeling._tasks import list_tasks, next_task, review_queue
from kiln.labeling._ui_support import TASK_STATUSES, remaining_for
from kiln.server.deps import DbDep
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader, Viewing
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]
PAGE_SIZE = 50
#: Reviews shown on the review page at once (the oldest first).
REVIEW_PAGE = 50
_IMAGE_PREFIXES = (
    "https://",
    "http://",
    "data:image/png",
    "data:image/jpeg",
    "data:image/gif",
    "data:image/webp",
)


def project_url(name: str, page: str = "") -> str:
    return f"/labeling/{quote(name, safe='')}" + (f"/{page}" if page else "")


def api_url(name: str, rest: str = "") -> str:
    return f"/api/v1/labeling/{quote(name, safe='')}" + rest


def dataset_link(source: str) -> str | None:
    """The page of the dataset version a project's rows came from (``name@3``)."""
    name, at, version = source.partition("@")
    if not (at and name and version):
        return None
    return f"/datasets/{quote(name, safe='')}/versions/{quote(version, safe='')}"


def is_reviewer(viewing: Viewing) -> bool:
    return viewing.role is not None and viewing.role.allows(Role.ADMIN)


def image_source(value: Any) -> str | None:
    """``value`` when a browser may load it as an image (http(s), raster ``data:``), else None."""
    if isinstance(value, str) and value.lower().startswith(_IMAGE_PREFIXES):
        return value
    return None


def progress(found: LabelingProject) -> dict[str, int]:
    counts = found.counts
    done = counts.get("complete", 0) + counts.get("reviewed", 0)
    return {
        "tasks": counts.get("tasks", 0),
        "open": counts.get("open", 0),
        "done": done,
        "reviewed": counts.get("reviewed", 0),
        "needs_review": counts.get("needs_review", 0),
    }


def shown_fields(schema: LabelSchema, task: Task) -> list[tuple[str, Any]]:
    """The fields shown as a table beside the text or image (a tabular item: all it has)."""
    main = {schema.text_field, schema.image_field}
    names = [name for name in schema.fields if name not in main]
    if not names and schema.data_kind == "tabular":
        names = list(task.data)
    return [(name, task.data.get(name)) for name in names]


def preselected(schema: LabelSchema, task: Task) -> set[str]:
    """The labels the model's pre-annotation chooses (none for spans)."""
    guess = (task.prediction or {}).get("label")
    if schema.task_type == "classification" and isinstance(guess, str):
        return {guess}
    if schema.task_type == "multilabel" and isinstance(guess, list):
        return {str(label) for label in guess}
    return set()


def json_text(value: Any) -> str:
    """``value`` as JSON text for an attribute (escaped there like any text)."""
    return json.dumps(value)


def span_text(task: Task, schema: LabelSchema, span: dict[str, Any]) -> str:
    text = task.data.get(schema.text_field or "", "")
    return str(text)[int(span["start"]) : int(span["end"])] if isinstance(text, str) else ""


def review_choices(schema: LabelSchema, task: Task) -> list[tuple[str, Any, str]]:
    """The labels a reviewer picks from: ``(key, label, caption)``; for spans, each answer given."""
    if schema.task_type != "ner":
        return [(label, label, label) for label in schema.labels]
    seen: dict[str, tuple[str, Any, str]] = {}
    for answer in task.annotations:
        if answer.skipped or answer.label is None:
            continue
        key = repr(answer.label)
        if key in seen:
            seen[key] = (seen[key][0], answer.label, f"{seen[key][2]}, {answer.annotator}")
        else:
            seen[key] = (f"answer-{len(seen)}", answer.label, f"the spans of {answer.annotator}")
    return list(seen.values())


HELPERS: dict[str, Any] = {
    "project_url": project_url,
    "api_url": api_url,
    "image_source": image_source,
    "progress": progress,
    "shown_fields": shown_fields,
    "span_text": span_text,
    "json_text": json_text,
}


@router.get("/labeling")
def projects(request: Request, db: DbDep, viewing: Reader) -> Response:
    """Every labeling project of the project, with its progress."""
    found = db.read(list_projects, viewing.project)
    return render(
        request, "labeling_projects.html", viewing, title="Labeling", found=found, **HELPERS
    )


@router.get("/labeling/{name}")
def project(
    request: Request,
    name: NamePath,
    db: DbDep,
    viewing: Reader,
    status: Literal["open", "complete", "reviewed"] | None = None,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """One project: counts, schema, the deployments it watches, export, its tasks."""
    from kiln.labeling._watches import list_watches

    found = db.read(get_project, viewing.project, name)
    watches = db.read(list_watches, viewing.project, name)
    tasks, total = db.read(
        list_tasks, viewing.project, name, status=status, offset=offset, limit=PAGE_SIZE
    )

    def page_url(at: int) -> str:
        shown: dict[str, str] = {"status": status} if status else {}
        if at:
            shown["offset"] = str(at)
        return project_url(name) + (f"?{urlencode(shown)}" if shown else "")

    return render(
        request,
        "labeling_project.html",
        viewing,
        title=f"Labeling · {found.name}",
        found=found,
        schema=found.schema,
        tasks=tasks,
        status=status or "",
        statuses=TASK_STATUSES,
        reviewer=is_reviewer(viewing),
        dataset_link=dataset_link(found.source),
        watches=watches,
        previous_url=page_url(max(offset - PAGE_SIZE, 0)) if offset else None,
        next_url=page_url(offset + PAGE_SIZE) if offset + len(tasks) < total else None,
        summary=f"{offset + 1}-{offset + len(tasks)} of {total}" if tasks else "none",
        **HELPERS,
    )


@router.get("/labeling/{name}/label")
def label(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """The caller's next task, with the label buttons, the model's guess, comment, Skip, Submit."""
    found = db.read(get_project, viewing.project, name)
    user = viewing.caller.user
    task = None
    remaining = 0
    if viewing.can_edit:
        task = db.read(next_task, viewing.project, name, user)
        remaining = db.read(remaining_for, viewing.project, name, user)
    spec = None
    if task is not None:
        schema = found.schema
        spec = {
            "task": task.id,
            "task_type": schema.task_type,
            "labels": list(schema.labels),
            "shortcuts": list(schema.shortcuts),
            "text": task.data.get(schema.text_field) if schema.text_field else None,
            "prediction": task.prediction,
            "api": api_url(name, f"/tasks/{task.id}/annotations"),
        }
    return render(
        request,
        "labeling_task.html",
        viewing,
        title=f"Label · {found.name}",
        found=found,
        schema=found.schema,
        task=task,
        remaining=remaining,
        spec=spec,
        chosen=preselected(found.schema, task) if task is not None else set(),
        **HELPERS,
    )


@router.get("/labeling/{name}/review")
def review(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """Tasks waiting for a reviewer: every answer and comment, the reason, the decision form."""
    found = db.read(get_project, viewing.project, name)
    queue = db.read(review_queue, viewing.project, name, limit=REVIEW_PAGE)
    reviewer = is_reviewer(viewing)
    return render(
        request,
        "labeling_review.html",
        viewing,
        title=f"Review · {found.name}",
        found=found,
        schema=found.schema,
        queue=queue,
        reviewer=reviewer,
        choices={t.id: review_choices(found.schema, t) for t in queue},
        **HELPERS,
    )


@router.get("/labeling/{name}/agreement")
def agreement(request: Request, name: NamePath, db: DbDep, viewing: Reader) -> Response:
    """How the annotators agree, and each annotator's answers, skips, time and gold accuracy."""
    from kiln.labeling._quality import agreement_report

    found = db.read(get_project, viewing.project, name)
    report = db.read(agreement_report, viewing.project, name)
    return render(
        request,
        "labeling_agreement.html",
        viewing,
        title=f"Agreement · {found.name}",
        found=found,
        report=report,
        **HELPERS,
    )
