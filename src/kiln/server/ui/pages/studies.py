"""Studies: the list, and one study's best trial, importances, plots and trials.

Pages read through the same services as ``/api/v1/studies``
(``kiln.training``'s ``list_studies`` and ``describe_study``). The plots are
the ones Optuna draws in the study's report (optimization history, parallel
coordinates, a slice per parameter, the Pareto front with several
directions, intermediate values) as chart specs for ``kiln.js``, built from
the trials already read; the report itself downloads from the study's run
through the raw-artifact route. Deleting a study is a call to the API.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from kiln.server.deps import ContextDep
from kiln.server.ui import _study_charts as charts
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import num, render
from kiln.server.ui.pages.artifacts import raw_url
from kiln.training._studies import NAME_LENGTH, StudySummary

router = APIRouter(route_class=UiRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]
#: The trials table shows the newest this many; the charts use every trial.
TABLE_TRIALS = 500
#: A badge class per trial state (kiln.css's colours).
STATE_BADGES = {
    "COMPLETE": "passed",
    "PRUNED": "forced",
    "FAIL": "failed",
    "RUNNING": "status-running",
}
#: Settings shown on a study's page, in this order (the rest are in the API's JSON).
SHOWN_SETTINGS = ("sampler", "pruner", "seed", "n_trials", "timeout", "parallelism", "runner")
_UNBOUNDED = 2**31 - 1


def study_url(name: str) -> str:
    return f"/studies/{quote(name, safe='')}"


def run_url(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


def state_badge(state: str) -> str:
    return STATE_BADGES.get(state, "")


def states_in_order(summary: StudySummary) -> list[tuple[str, int]]:
    """Trial counts per state, the most common first."""
    return sorted(summary.states.items(), key=lambda item: (-item[1], item[0]))


def settings_shown(summary: StudySummary) -> list[tuple[str, Any]]:
    found = []
    for key in SHOWN_SETTINGS:
        value = summary.settings.get(key)
        if value is None or (key == "n_trials" and value == _UNBOUNDED):
            continue
        found.append((key.replace("_", " "), value))
    return found


def _said(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {num(share, 3)}" for name, share in shares.items())


HELPERS: dict[str, Any] = {
    "study_url": study_url,
    "run_url": run_url,
    "state_badge": state_badge,
    "states_in_order": states_in_order,
}


@router.get("/studies")
def studies_list(request: Request, context: ContextDep, viewing: Reader) -> Response:
    """Every study of the project, newest first: directions, trials by state, best value."""
    from kiln.training._studies import list_studies

    found = context.db.read(list_studies, viewing.project)
    return render(request, "studies.html", viewing, title="Studies", studies=found, **HELPERS)


@router.get("/studies/{name}")
def study_page(request: Request, name: NamePath, context: ContextDep, viewing: Reader) -> Response:
    """The study's best trial(s), importances, plots and trials."""
    from kiln.training._study_details import describe_study

    details = context.db.read(describe_study, viewing.project, name)
    summary = details.summary
    labels = details.objectives
    several = len(summary.directions) > 1
    params = charts.param_names(summary)
    done = charts.completed(summary)
    plots: dict[str, Any] = {}
    if done:
        plots = {
            "histories": [
                charts.history_chart(summary, index, label, best_so_far=not several)
                for index, label in enumerate(labels)
            ],
            "parallel": charts.parallel_chart(summary, labels) if params else None,
            "slices": charts.slice_charts(summary, 0, labels[0]),
            "pareto": charts.pareto_chart(summary, labels) if several else None,
        }
    report = None
    if details.report is not None and summary.parent_run_id is not None:
        report = raw_url(summary.parent_run_id, details.report.path, download=True)
    return render(
        request,
        "study.html",
        viewing,
        title=f"Study {summary.name}",
        charts=True,
        details=details,
        summary=summary,
        labels=labels,
        several=several,
        plots=plots,
        importances=[
            (label, charts.importance_chart(shares, label), _said(shares), len(shares))
            for label, shares in zip(labels, details.importances, strict=True)
            if shares
        ],
        intermediate=charts.intermediate_chart(summary),
        settings=settings_shown(summary),
        params=params,
        trials=summary.trials[-TABLE_TRIALS:],
        report_url=report,
        api_url=f"/api/v1/studies/{quote(summary.name, safe='')}",
        **HELPERS,
    )
