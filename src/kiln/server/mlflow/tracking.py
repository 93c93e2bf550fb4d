"""MLflow's tracking REST API (experiments, runs, logging) over Kiln's services.

Metric history reads are in ``metrics``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.mlflow._convert import (
    experiment_json,
    resolve_experiment_id,
    run_json,
)
from kiln.server.mlflow._route import KeyValue, MlflowRoute, first
from kiln.server.mlflow._route import MlflowBody as _Body
from kiln.server.mlflow._route import ok as _ok
from kiln.server.responses import JSONResponse
from kiln.tracking import _experiments, _inputs, _model_metrics, _runs
from kiln.tracking._entities import DatasetInput, LifecycleStage, Metric, Param, RunStatus
from kiln.tracking._model_metrics import LinkedMetric

router = APIRouter(route_class=MlflowRoute)

_VIEWS = {"ACTIVE_ONLY": "active_only", "DELETED_ONLY": "deleted_only", "ALL": "all"}


class CreateExperiment(_Body):
    name: str
    artifact_location: str | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class ExperimentRef(_Body):
    experiment_id: str


class UpdateExperiment(_Body):
    experiment_id: str
    new_name: str


class ExperimentTag(_Body):
    experiment_id: str
    key: str
    value: str = ""


class SearchExperiments(_Body):
    max_results: int = 1000
    page_token: str | None = None
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    view_type: str = "ACTIVE_ONLY"


class CreateRun(_Body):
    experiment_id: str = "0"
    user_id: str = ""
    run_name: str | None = None
    start_time: int | None = None
    tags: list[KeyValue] = Field(default_factory=list)


class RunRef(_Body):
    run_id: str | None = None
    run_uuid: str | None = None

    @property
    def id(self) -> str:
        return first(self.run_id or self.run_uuid, "run_id")  # type: ignore[no-any-return]


class UpdateRun(RunRef):
    status: RunStatus | None = None
    end_time: int | None = None
    run_name: str | None = None


class LogMetric(RunRef):
    key: str
    value: float
    timestamp: int
    step: int = 0
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


class LogParam(RunRef):
    key: str
    value: str


class SetTag(RunRef):
    key: str
    value: str = ""


class DeleteTag(_Body):
    run_id: str
    key: str


class MetricIn(_Body):
    key: str
    value: float
    timestamp: int
    step: int = 0
    #: MLflow 3 links a point to a logged model (see ``kiln.tracking._model_metrics``).
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None

    def linked(self) -> LinkedMetric:
        return LinkedMetric(
            Metric(self.key, self.value, self.step, self.timestamp),
            self.model_id or None,
            self.dataset_name or None,
            self.dataset_digest or None,
        )


class LogBatch(_Body):
    run_id: str
    metrics: list[MetricIn] = Field(default_factory=list, max_length=_runs.MAX_BATCH_METRICS)
    params: list[KeyValue] = Field(default_factory=list, max_length=_runs.MAX_BATCH_PARAMS)
    tags: list[KeyValue] = Field(default_factory=list, max_length=_runs.MAX_BATCH_TAGS)


class Dataset(_Body):
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: str = Field(default="", alias="schema")
    profile: str = ""


class DatasetInputIn(_Body):
    tags: list[KeyValue] = Field(default_factory=list)
    dataset: Dataset


class LogInputs(_Body):
    run_id: str
    datasets: list[DatasetInputIn] = Field(default_factory=list)


class SearchRuns(_Body):
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str = ""
    run_view_type: str = "ACTIVE_ONLY"
    max_results: int = 1000
    order_by: list[str] = Field(default_factory=list)
    page_token: str | None = None


# -- experiments ---------------------------------------------------------------
@router.post("/experiments/create")
def create_experiment(
    body: CreateExperiment, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    experiment = db.run(
        _experiments.create_experiment,
        project,
        body.name,
        tags={t.key: t.value for t in body.tags},
    )
    return _ok({"experiment_id": experiment.id})


@router.get("/experiments/get")
def get_experiment(
    db: DbDep, caller: Viewer, project: RequestProject, experiment_id: str | None = None
) -> JSONResponse:
    experiment_id = first(experiment_id, "experiment_id")
    experiment = db.run(_get_experiment, project, experiment_id)
    return _ok({"experiment": experiment_json(experiment)})


def _get_experiment(session: Any, project: str, experiment_id: str) -> Any:
    return _experiments.get_experiment(
        session, project, resolve_experiment_id(session, project, experiment_id)
    )


@router.get("/experiments/get-by-name")
def get_experiment_by_name(
    db: DbDep, caller: Viewer, project: RequestProject, experiment_name: str | None = None
) -> JSONResponse:
    name = first(experiment_name, "experiment_name")
    experiment = db.read(_experiments.get_experiment_by_name, project, name)
    return _ok({"experiment": experiment_json(experiment)})


@router.api_route("/experiments/search", methods=["GET", "POST"])
async def search_experiments(
    request: Request, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    if request.method == "POST":
        body = SearchExperiments.model_validate(await request.json())
    else:
        query = request.query_params
        body = SearchExperiments(
            max_results=int(query.get("max_results", 1000)),
            page_token=query.get("page_token"),
            filter=query.get("filter", ""),
            order_by=query.getlist("order_by"),
            view_type=query.get("view_type", "ACTIVE_ONLY"),
        )
    from kiln.tracking import _search

    found, token = db.read(
        _search.search_experiments,
        project,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        view=_VIEWS.get(body.view_type.upper(), body.view_type),
    )
    result: dict[str, Any] = {"experiments": [experiment_json(e) for e in found]}
    if token:
        result["next_page_token"] = token
    return _ok(result)


@router.post("/experiments/update")
def update_experiment(
    body: UpdateExperiment, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(_experiments.update_experiment, project, body.experiment_id, name=body.new_name)
    return _ok()


@router.post("/experiments/delete")
def delete_experiment(
    body: ExperimentRef, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(
        _experiments.set_experiment_lifecycle,
        project,
        body.experiment_id,
        LifecycleStage.DELETED,
    )
    return _ok()


@router.post("/experiments/restore")
def restore_experiment(
    body: ExperimentRef, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(
        _experiments.set_experiment_lifecycle, project, body.experiment_id, LifecycleStage.ACTIVE
    )
    return _ok()


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(
    body: ExperimentTag, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(_experiments.set_experiment_tag, project, body.experiment_id, body.key, body.value)
    return _ok()


@router.post("/experiments/delete-experiment-tag")
def delete_experiment_tag(
    body: ExperimentTag, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(_experiments.delete_experiment_tag, project, body.experiment_id, body.key)
    return _ok()


# -- runs ----------------------------------------------------------------------
def _create_run(session: Any, project: str, body: CreateRun, user: str) -> Any:
    tags = {t.key: t.value for t in body.tags}
    return _runs.create_run(
        session,
        project,
        resolve_experiment_id(session, project, body.experiment_id),
        name=body.run_name or tags.get("mlflow.runName") or None,
        parent_run_id=tags.get("mlflow.parentRunId") or None,
        start_time=body.start_time,
        tags=tags,
        user=body.user_id or user,
    )


@router.post("/runs/create")
def create_run(body: CreateRun, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    return _ok({"run": run_json(db.run(_create_run, project, body, caller.user))})


@router.get("/runs/get")
def get_run(
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    run_id: str | None = None,
    run_uuid: str | None = None,
) -> JSONResponse:
    run = db.read(_runs.get_run, project, first(run_id or run_uuid, "run_id"))
    return _ok({"run": run_json(run)})


@router.post("/runs/update")
def update_run(body: UpdateRun, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    run = db.run(
        _runs.update_run,
        project,
        body.id,
        status=body.status,
        end_time=body.end_time,
        name=body.run_name,
    )
    return _ok({"run_info": run_json(run)["info"]})


@router.post("/runs/delete")
def delete_run(body: RunRef, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    db.run(_runs.set_run_lifecycle, project, body.id, LifecycleStage.DELETED)
    return _ok()


@router.post("/runs/restore")
def restore_run(body: RunRef, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    db.run(_runs.set_run_lifecycle, project, body.id, LifecycleStage.ACTIVE)
    return _ok()


@router.post("/runs/log-metric")
def log_metric(body: LogMetric, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    metric = Metric(body.key, body.value, body.step, body.timestamp)
    if body.model_id:
        linked = LinkedMetric(metric, body.model_id, body.dataset_name, body.dataset_digest)
        db.run(_model_metrics.log_batch_linked, project, body.id, [linked])
    else:
        db.run(_runs.log_batch, project, body.id, metrics=[metric])
    return _ok()


@router.post("/runs/log-parameter")
def log_parameter(
    body: LogParam, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    db.run(_runs.log_batch, project, body.id, params=[Param(body.key, body.value)])
    return _ok()


def _set_tag(session: Any, project: str, run_id: str, key: str, value: str) -> None:
    _runs.log_batch(session, project, run_id, tags=[(key, value)])
    if key == "mlflow.runName" and value:
        _runs.update_run(session, project, run_id, name=value)


@router.post("/runs/set-tag")
def set_tag(body: SetTag, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    db.run(_set_tag, project, body.id, body.key, body.value)
    return _ok()


@router.post("/runs/delete-tag")
def delete_tag(body: DeleteTag, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    db.run(_runs.delete_tag, project, body.run_id, body.key)
    return _ok()


@router.post("/runs/log-batch")
def log_batch(body: LogBatch, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    if any(m.model_id for m in body.metrics):
        db.run(
            _model_metrics.log_batch_linked,
            project,
            body.run_id,
            [m.linked() for m in body.metrics],
            params=[Param(p.key, p.value) for p in body.params],
            tags=[(t.key, t.value) for t in body.tags],
        )
        return _ok()
    db.run(
        _runs.log_batch,
        project,
        body.run_id,
        metrics=[Metric(m.key, m.value, m.step, m.timestamp) for m in body.metrics],
        params=[Param(p.key, p.value) for p in body.params],
        tags=[(t.key, t.value) for t in body.tags],
    )
    return _ok()


@router.post("/runs/log-inputs")
def log_inputs(body: LogInputs, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    datasets = []
    for item in body.datasets:
        context = next((t.value for t in item.tags if t.key == "mlflow.data.context"), "")
        d = item.dataset
        datasets.append(
            DatasetInput(
                name=d.name,
                digest=d.digest,
                source_type=d.source_type,
                source=d.source,
                schema=d.schema_,
                profile=d.profile,
                context=context,
            )
        )
    db.run(_inputs.log_inputs, project, body.run_id, datasets)
    return _ok()


@router.post("/runs/search")
def search_runs(
    body: SearchRuns, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    from kiln.tracking import _search

    runs, token = db.read(
        _search.search_runs,
        project,
        body.experiment_ids,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        run_view=_VIEWS.get(body.run_view_type.upper(), body.run_view_type),
    )
    result: dict[str, Any] = {"runs": [run_json(r) for r in runs]}
    if token:
        result["next_page_token"] = token
    return _ok(result)
