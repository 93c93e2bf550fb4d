"""A study as its pages show it: the summary, and what the search recorded on the study's run.

When a search ends, ``kiln.tune`` puts the parameter importances on the
study's run (metrics ``importance.<param>``, or ``importance.<i>.<param>``
with several directions) and the self-contained report of Optuna's plots
(``tuning/report.html``). :func:`describe_study` reads them back beside
:func:`~kiln.training._studies.get_study`, so ``kiln tune show``,
``GET /api/v1/studies/{name}`` and the study page show the same thing, with
no Optuna import.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from kiln.errors import NotFound
from kiln.tracking._artifacts import get_artifact
from kiln.tracking._entities import Run, RunArtifact
from kiln.tracking._runs import get_run
from kiln.training._result import REPORT_PATH
from kiln.training._studies import StudySummary, get_study
from kiln.training._trial_runs import value_metric_names

__all__ = ["REPORT_PATH", "StudyDetails", "describe_study", "study_report"]


@dataclass(frozen=True)
class StudyDetails:
    """A study's summary with its objectives' names, importances, run status and report.

    ``objectives`` names each direction as the trials' runs log it (the
    metric names given to ``kiln.tune``, else ``value`` or ``value_0``,
    ``value_1``…). ``importances`` holds one mapping per objective, largest
    share first (empty until the search has recorded them). ``run_status``
    is the study's run's (``RUNNING`` while a search goes on); ``report`` is
    the report's file on that run, ``None`` before the first search ended.
    """

    summary: StudySummary
    objectives: list[str]
    importances: list[dict[str, float]]
    run_status: str | None
    report: RunArtifact | None

    def to_dict(self) -> dict[str, Any]:
        report = None
        if self.report is not None:
            report = {
                "run_id": self.summary.parent_run_id,
                "path": self.report.path,
                "size": self.report.size,
            }
        return self.summary.to_dict() | {
            "objectives": self.objectives,
            "importances": self.importances,
            "run_status": self.run_status,
            "report": report,
        }


def _importances(run: Run | None, objectives: int) -> list[dict[str, float]]:
    found: list[dict[str, float]] = [{} for _ in range(objectives)]
    if run is None:
        return found
    for key, metric in run.metrics.items():
        if not key.startswith("importance."):
            continue
        rest = key.removeprefix("importance.")
        index = 0
        if objectives > 1:
            head, _, param = rest.partition(".")
            if not head.isdigit() or int(head) >= objectives or not param:
                continue
            index, rest = int(head), param
        found[index][rest] = metric.value
    return [
        dict(sorted(shares.items(), key=lambda item: (-_sortable(item[1]), item[0])))
        for shares in found
    ]


def _sortable(share: float) -> float:
    return share if math.isfinite(share) else -math.inf


def _study_run(session: Session, project: str, summary: StudySummary) -> Run | None:
    if summary.parent_run_id is None:
        return None
    try:
        return get_run(session, project, summary.parent_run_id)
    except NotFound:  # the run was purged; the next search starts another
        return None


def _report(session: Session, project: str, run: Run | None) -> RunArtifact | None:
    if run is None:
        return None
    try:
        return get_artifact(session, project, run.id, REPORT_PATH)
    except NotFound:
        return None


def describe_study(
    session: Session, project: str, name: str, *, trials: bool = True
) -> StudyDetails:
    """Study ``name`` (with every trial unless ``trials=False``) and its run's records."""
    summary = get_study(session, project, name, trials=trials)
    run = _study_run(session, project, summary)
    count = len(summary.directions)
    return StudyDetails(
        summary=summary,
        objectives=value_metric_names([math.nan] * count, summary.metric_names),
        importances=_importances(run, count),
        run_status=run.status.value if run is not None else None,
        report=_report(session, project, run),
    )


def study_report(session: Session, project: str, name: str) -> tuple[str, RunArtifact]:
    """``(run id, file)`` of study ``name``'s HTML report; NotFound before a search ended."""
    details = describe_study(session, project, name, trials=False)
    if details.report is None or details.summary.parent_run_id is None:
        raise NotFound(
            f"study {name!r} has no report yet: kiln.tune writes {REPORT_PATH} on the "
            "study's run when a search ends"
        )
    return details.summary.parent_run_id, details.report
