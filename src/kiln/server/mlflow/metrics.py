"""MLflow's metric history routes: ``get-history`` (paged) and ``get-history-bulk-interval``.

``get-history`` pages when the client sends ``max_results`` (MLflow 3's client
asks for 25,000 points a page and follows ``next_page_token``).
``get-history-bulk-interval`` is what MLflow's UI charts call: samples of one
key for up to 100 runs, with MLflow's limits and error codes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from kiln.server.deps import DbDep, RequestProject, Viewer
from kiln.server.mlflow._route import MlflowRoute, first
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse
from kiln.tracking import _history
from kiln.tracking._entities import Metric
from kiln.tracking._wire import encode_float

router = APIRouter(route_class=MlflowRoute)


def _metric_json(metric: Metric) -> dict[str, Any]:
    return {
        "key": metric.key,
        "value": encode_float(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
    }


@router.get("/metrics/get-history")
def get_metric_history(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    run_id: str | None = None,
    run_uuid: str | None = None,
    metric_key: str | None = None,
    max_results: int | None = None,
    page_token: str | None = None,
) -> JSONResponse:
    points, token = db.read(
        _history.metric_history_page,
        project,
        first(run_id or run_uuid, "run_id"),
        first(metric_key, "metric_key"),
        max_results=max_results,
        page_token=page_token or None,
    )
    result: dict[str, Any] = {"metrics": [_metric_json(m) for m in points]}
    if token:
        result["next_page_token"] = token
    return _ok(result)


@router.get("/metrics/get-history-bulk-interval")
def get_metric_history_bulk_interval(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    run_ids: list[str] | None = Query(None),
    metric_key: str | None = None,
    start_step: int | None = None,
    end_step: int | None = None,
    max_results: int = _history.MAX_SAMPLES_PER_RUN,
) -> JSONResponse:
    """Up to ``max_results`` points per run, evenly sampled (see ``_history``)."""
    samples = db.read(
        _history.sample_metric_histories,
        project,
        first(run_ids or None, "run_ids"),
        first(metric_key, "metric_key"),
        max_results=max_results,
        start_step=start_step,
        end_step=end_step,
    )
    return _ok({"metrics": [{**_metric_json(m), "run_id": run} for run, m in samples]})
