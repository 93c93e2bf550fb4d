"""``/api/v1/runs``: runs, their data, their artifacts, and search."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import StreamingResponse

from kiln.server.deps import ContextDep, DbDep, Editor, RequestProject, Viewer
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse
from kiln.server.streaming import blob_response, receive_blob
from kiln.tracking import _artifacts, _inputs, _runs, _wire
from kiln.tracking._entities import DatasetInput, LifecycleStage, Metric, Param, RunStatus

router = APIRouter(prefix="/runs", tags=["runs"])


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment_id: str
    name: str | None = None
    parent_run_id: str | None = None
    start_time: int | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RunUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: RunStatus | None = None
    name: str | None = None
    failure: str | None = None
    end_time: int | None = None


class MetricIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: float = Field(description='A number, or "NaN", "Infinity", "-Infinity".')
    step: int = 0
    timestamp: int


class KeyValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    value: str


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[MetricIn] = Field(default_factory=list, max_length=_runs.MAX_BATCH_METRICS)
    params: list[KeyValue] = Field(default_factory=list, max_length=_runs.MAX_BATCH_PARAMS)
    tags: list[KeyValue] = Field(default_factory=list, max_length=_runs.MAX_BATCH_TAGS)


class DatasetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    digest: str
    source_type: str = ""
    source: str = ""
    schema_: str = Field(default="", alias="schema")
    profile: str = ""
    context: str = ""


class Inputs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    datasets: list[DatasetIn]


class Search(BaseModel):
    model_config = ConfigDict(extra="forbid")
    experiment_ids: list[str] = Field(default_factory=list)
    filter: str = ""
    order_by: list[str] = Field(default_factory=list)
    max_results: int = 1000
    page_token: str | None = None
    run_view: str = "active_only"


class Histories(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_ids: list[str] = Field(min_length=1, max_length=1000)
    keys: list[str] | None = None


def _run(run: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(_wire.run_to_json(run), status_code=status_code)


@router.post("", status_code=201)
def create_run(
    body: RunCreate, request: Request, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    run = db.run(
        _runs.create_run,
        project,
        body.experiment_id,
        name=body.name,
        parent_run_id=body.parent_run_id,
        start_time=body.start_time,
        tags=body.tags,
        user=caller.user,
    )
    note_audit_target(request.scope, run=run.id)
    return _run(run, 201)


@router.post("/search")
def search_runs(body: Search, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    from kiln.tracking import _search

    runs, token = db.read(
        _search.search_runs,
        project,
        body.experiment_ids,
        filter_string=body.filter,
        order_by=body.order_by,
        max_results=body.max_results,
        page_token=body.page_token,
        run_view=body.run_view,
    )
    return JSONResponse({"runs": [_wire.run_to_json(r) for r in runs], "next_page_token": token})


@router.post("/metric-histories")
def metric_histories(
    body: Histories, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    """Histories of several runs at once: ``{run_id: {key: [points]}}``."""
    found = db.read(_runs.get_metric_histories, project, body.run_ids, body.keys)
    return JSONResponse(
        {
            run_id: {key: [_wire.metric_to_json(m) for m in points] for key, points in per.items()}
            for run_id, per in found.items()
        }
    )


@router.get("/{run_id}")
def get_run(run_id: str, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    return _run(db.read(_runs.get_run, project, run_id))


@router.patch("/{run_id}")
def update_run(
    run_id: str, body: RunUpdate, db: DbDep, caller: Editor, project: RequestProject
) -> JSONResponse:
    """Rename a run or set its status (FINISHED, FAILED, KILLED end it)."""
    return _run(
        db.run(
            _runs.update_run,
            project,
            run_id,
            status=body.status,
            name=body.name,
            failure=body.failure,
            end_time=body.end_time,
        )
    )


@router.delete("/{run_id}")
def delete_run(
    run_id: str,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
    permanent: bool = False,
) -> JSONResponse:
    """Hide a run (restorable), or with ``permanent=true`` remove its records for good."""
    if permanent:
        db.run(_runs.purge_run, project, run_id)
        return JSONResponse({"id": run_id, "deleted": "permanently"})
    return _run(db.run(_runs.set_run_lifecycle, project, run_id, LifecycleStage.DELETED))


@router.post("/{run_id}/restore")
def restore_run(run_id: str, db: DbDep, caller: Editor, project: RequestProject) -> JSONResponse:
    return _run(db.run(_runs.set_run_lifecycle, project, run_id, LifecycleStage.ACTIVE))


@router.post("/{run_id}/batch", status_code=204)
def log_batch(run_id: str, body: Batch, db: DbDep, caller: Editor, project: RequestProject) -> None:
    """Log metrics, params and tags in one transaction (MLflow's limits per call)."""
    db.run(
        _runs.log_batch,
        project,
        run_id,
        metrics=[Metric(m.key, m.value, m.step, m.timestamp) for m in body.metrics],
        params=[Param(p.key, p.value) for p in body.params],
        tags=[(t.key, t.value) for t in body.tags],
    )


@router.delete("/{run_id}/tags/{key:path}", status_code=204)
def delete_tag(run_id: str, key: str, db: DbDep, caller: Editor, project: RequestProject) -> None:
    db.run(_runs.delete_tag, project, run_id, key)


@router.post("/{run_id}/inputs", status_code=204)
def log_inputs(
    run_id: str, body: Inputs, db: DbDep, caller: Editor, project: RequestProject
) -> None:
    datasets = [
        DatasetInput(
            name=d.name,
            digest=d.digest,
            source_type=d.source_type,
            source=d.source,
            schema=d.schema_,
            profile=d.profile,
            context=d.context,
        )
        for d in body.datasets
    ]
    db.run(_inputs.log_inputs, project, run_id, datasets)


@router.get("/{run_id}/metrics/{key:path}")
def metric_history(
    run_id: str, key: str, db: DbDep, caller: Viewer, project: RequestProject
) -> JSONResponse:
    points = db.read(_runs.get_metric_history, project, run_id, key)
    return JSONResponse([_wire.metric_to_json(m) for m in points])


@router.get("/{run_id}/artifacts")
def list_artifacts(
    run_id: str, db: DbDep, caller: Viewer, project: RequestProject, prefix: str = ""
) -> JSONResponse:
    found = db.read(_artifacts.list_artifacts, project, run_id, prefix)
    return JSONResponse([_wire.artifact_to_json(a) for a in found])


@router.put("/{run_id}/artifacts/{path:path}")
async def upload_artifact(
    run_id: str,
    path: str,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Store the raw request body as the run's file ``path`` (streamed, never in memory)."""
    from kiln.artifacts import validate_artifact_path

    validate_artifact_path(path)
    await anyio.to_thread.run_sync(context.db.read, _runs.get_run, project, run_id)
    blob = await receive_blob(request, context.artifacts)
    artifact = await anyio.to_thread.run_sync(
        context.db.run, _artifacts.record_artifact, project, run_id, path, blob.digest, blob.size
    )
    return JSONResponse(_wire.artifact_to_json(artifact))


@router.get("/{run_id}/artifact-content/{path:path}")
def download_artifact(
    run_id: str, path: str, context: ContextDep, caller: Viewer, project: RequestProject
) -> StreamingResponse:
    """The bytes of a run's file, streamed."""
    artifact = context.db.read(_artifacts.get_artifact, project, run_id, path)
    return blob_response(context.artifacts, artifact.digest, artifact.size)
