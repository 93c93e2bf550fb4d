"""Pipelines: the runs list, one run (its DAG, steps, logs, outputs, paused gates), schedules.

Pages read through the pipelines, alerts and schedule services, as the API
does. Resuming a paused or failed run is a button that calls ``POST
/api/v1/pipeline-runs/{id}/resume`` from the page (``kiln.js``, with the UI's
CSRF header), so the API's roles and audit log apply; it is rendered for
editors only. The run page of a RUNNING run refreshes itself every few
seconds (a ``<meta http-equiv="refresh">``), so a resume shows its progress
without JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from kiln.alerts import Alert, AlertStatus
from kiln.pipelines import PipelineRun, PipelineStatus, StepRun, StepStatus
from kiln.pipelines._schedule_entities import Schedule, ScheduleFiring
from kiln.server.deps import DbDep
from kiln.server.ui import _dag
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import duration, render

router = APIRouter(route_class=UiRoute)

PAGE_SIZE = 50
#: Firings listed per schedule on the schedules page.
FIRINGS_SHOWN = 5
#: Seconds between reloads of a RUNNING run's page.
REFRESH_SECONDS = 3
_RESUMABLE = (PipelineStatus.PAUSED, PipelineStatus.FAILED)


def run_url(run_id: str) -> str:
    return f"/pipelines/runs/{quote(run_id, safe='')}"


def step_anchor(invocation: str) -> str:
    """An id for a step's section: invocations hold ``#``, ``[`` and ``]``."""
    return "step-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in invocation)


def lineage_url(ref: str) -> str:
    return "/lineage?" + urlencode({"node": ref})


@router.get("/pipelines")
def runs_list(
    request: Request,
    db: DbDep,
    viewing: Reader,
    status: PipelineStatus | None = None,
    pipeline: Annotated[str, Query(max_length=256)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """The project's pipeline runs, newest first; PAUSED ones wait for a person."""
    from kiln.pipelines import list_pipeline_runs

    runs = db.read(
        list_pipeline_runs,
        viewing.project,
        pipeline=pipeline or None,
        status=status,
        limit=PAGE_SIZE,
        offset=offset,
    )
    paused = (
        len(runs)
        if status is PipelineStatus.PAUSED
        else len(
            db.read(
                list_pipeline_runs,
                viewing.project,
                pipeline=pipeline or None,
                status=PipelineStatus.PAUSED,
                limit=PAGE_SIZE,
            )
        )
    )

    def page_url(at: int) -> str:
        params = {"status": status.value if status else "", "pipeline": pipeline}
        shown = {key: value for key, value in params.items() if value}
        if at:
            shown["offset"] = str(at)
        return "/pipelines" + (f"?{urlencode(shown)}" if shown else "")

    first = offset + 1
    return render(
        request,
        "pipelines.html",
        viewing,
        title="Pipeline runs",
        runs=runs,
        paused=paused,
        status=status.value if status else "",
        statuses=[s.value for s in PipelineStatus],
        pipeline=pipeline,
        previous_url=page_url(max(offset - PAGE_SIZE, 0)) if offset else None,
        next_url=page_url(offset + PAGE_SIZE) if len(runs) == PAGE_SIZE else None,
        summary=f"{first}-{offset + len(runs)}" if runs else "none",
        run_url=run_url,
    )


@dataclass(frozen=True, slots=True)
class RunData:
    run: PipelineRun
    #: OPEN alerts of the run's gates, by invocation.
    alerts: dict[str, list[Alert]]


def _load(session: Session, project: str, run_id: str) -> RunData:
    from kiln.alerts import list_alerts
    from kiln.pipelines import get_pipeline_run

    run = get_pipeline_run(session, project, run_id)
    alerts: dict[str, list[Alert]] = {}
    for step in run.steps:
        if step.status not in (StepStatus.PAUSED, StepStatus.FAILED):
            continue
        found = list_alerts(
            session,
            project,
            status=AlertStatus.OPEN,
            subject_kind="step_run",
            subject_id=f"{run.id}/{step.invocation}",
            limit=10,
        )
        if found:
            alerts[step.invocation] = found
    return RunData(run, alerts)


def _detail(step: StepRun) -> str:
    parts = [step.status.value.lower()]
    if step.cached:
        parts.append("cached")
    elif step.duration_seconds is not None:
        parts.append(duration(step.duration_seconds * 1000))
    return " · ".join(parts)


def dag_of(run: PipelineRun) -> tuple[list[list[_dag.Box]], list[tuple[str, str]]]:
    """The run's steps in columns (longest upstream path) and their edges."""
    upstream = {step.invocation: step.upstream for step in run.steps}
    layer = _dag.layers_by_longest_path(upstream)
    columns: list[list[_dag.Box]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for step in run.steps:  # in call order, so boxes keep the order of the code
        classes = f"step status-{step.status.value.lower()}" + (" cached" if step.cached else "")
        description = _detail(step) + (
            f"; error: {step.error.splitlines()[0]}" if step.error else ""
        )
        columns[layer[step.invocation]].append(
            _dag.Box(
                step.invocation,
                step.invocation,
                _detail(step),
                f"#{step_anchor(step.invocation)}",
                classes,
                description,
            )
        )
    edges = [(up, step.invocation) for step in run.steps for up in step.upstream]
    return columns, edges


@router.get("/pipelines/runs/{run_id}")
def run_page(request: Request, run_id: str, db: DbDep, viewing: Reader) -> Response:
    """One run: facts, the DAG, paused gates with their failed checks, each step's record."""
    data = db.read(_load, viewing.project, run_id)
    run = data.run
    columns, edges = dag_of(run)
    return render(
        request,
        "pipeline_run.html",
        viewing,
        title=f"{run.pipeline} run {run.id[:8]}",
        run=run,
        alerts=data.alerts,
        dag_svg=_dag.draw(columns, edges, f"Steps of {run.pipeline} run {run.id[:8]}"),
        edges=edges,
        resumable=run.status in _RESUMABLE and bool(run.target),
        refresh=REFRESH_SECONDS if run.status is PipelineStatus.RUNNING else None,
        paused_steps=[s for s in run.steps if s.status is StepStatus.PAUSED],
        step_anchor=step_anchor,
        lineage_url=lineage_url,
        api_url=f"/api/v1/pipeline-runs/{quote(run.id, safe='')}",
        run_url=run_url(run.id),
        failures=_failures,
    )


def _failures(alert: Alert) -> list[dict[str, Any]]:
    """The failed checks an alert recorded (a gate's verdict), as the page lists them."""
    found = alert.details.get("failures", [])
    return [check for check in found if isinstance(check, dict)]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    schedule: Schedule
    #: The newest firings, newest first.
    firings: list[ScheduleFiring]


def _schedules(session: Session, project: str) -> list[ScheduleRow]:
    from kiln.pipelines import _schedules

    return [
        ScheduleRow(
            schedule, _schedules.list_firings(session, project, schedule.name, limit=FIRINGS_SHOWN)
        )
        for schedule in _schedules.list_schedules(session, project)
    ]


@router.get("/pipelines/schedules")
def schedules_page(request: Request, db: DbDep, viewing: Reader) -> Response:
    """The project's schedules: cron, time zone, next fire time, enabled, the last firings."""
    return render(
        request,
        "pipeline_schedules.html",
        viewing,
        title="Pipeline schedules",
        rows=db.read(_schedules, viewing.project),
        firings_shown=FIRINGS_SHOWN,
        run_url=run_url,
    )
