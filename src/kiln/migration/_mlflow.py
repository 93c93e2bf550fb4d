"""Copy an MLflow tracking store and model registry into Kiln, idempotently.

The source is read with the stock ``mlflow.MlflowClient``, so any store MLflow
can open works: ``sqlite:///…``, ``postgresql://…``, ``file:…`` folders and
``http(s)://`` tracking servers. Each imported run carries the tag
``mlflow.source.run_id`` (the MLflow run id), each logged model the tag
``kiln.import.model_id`` and each imported version the tag
``kiln.import.version`` (its MLflow number); a later import looks these up and
adds only what is new. See docs/mlflow-import.md.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables import (
    ExperimentRow,
    ProjectRow,
    RunRow,
    RunTagRow,
)
from kiln.errors import InvalidInput, KilnError, NotFound
from kiln.tracking import _artifacts, _experiments, _inputs, _runs
from kiln.tracking._entities import Param, RunArtifact, RunStatus
from kiln.tracking._names import (
    MAX_TAG_VALUE_LENGTH,
)

if TYPE_CHECKING:
    from kiln.context import Context

from kiln.migration._mlflow_common import (
    CHUNK,
    SOURCE_RUN_TAG,
    SOURCE_URI_TAG,
    ImportSummary,
    Progress,
    _Keys,
    experiment_name,
    store_folder,
)
from kiln.migration._mlflow_models import _import_logged_models
from kiln.migration._mlflow_registry import _import_registry
from kiln.migration._mlflow_source import (
    _client,
    _read_run,
    _RunData,
    _source_experiments,
    _source_runs,
)


def _artifact_uploader(
    client: Any, context: Context, summary: ImportSummary
) -> Callable[[str], list[RunArtifact]]:
    def upload(run_id: str) -> list[RunArtifact]:
        if not client.list_artifacts(run_id):
            return []
        with tempfile.TemporaryDirectory(prefix="kiln-mlflow-import-") as folder:
            root = Path(client.download_artifacts(run_id, "", folder))
            return store_folder(context, root, summary, f"run {run_id}")

    return upload


# -- writing into Kiln ------------------------------------------------------------------


def _imported_runs(session: Session, project: str) -> dict[str, tuple[str, str]]:
    """MLflow run id -> (Kiln run id, Kiln status) of the runs imported before."""
    rows = session.execute(
        select(RunTagRow.value, RunRow.id, RunRow.status)
        .join(RunRow, RunRow.id == RunTagRow.run_id)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(RunTagRow.key == SOURCE_RUN_TAG, ProjectRow.name == project)
    )
    return {value: (run_id, status) for value, run_id, status in rows}


def _log(session: Session, project: str, run_id: str, data: _RunData) -> None:
    for start in range(0, len(data.metrics), CHUNK):
        _runs.log_batch(session, project, run_id, metrics=data.metrics[start : start + CHUNK])
    _runs.log_batch(
        session,
        project,
        run_id,
        params=[Param(k, v) for k, v in data.params],
        tags=data.tags,
    )
    if data.artifacts:
        _artifacts.record_artifacts(session, project, run_id, data.artifacts)
    if data.inputs:
        _inputs.log_inputs(session, project, run_id, data.inputs)
    if data.status is not RunStatus.RUNNING:
        _runs.update_run(session, project, run_id, status=data.status, end_time=data.end_time)


def _create_run(
    session: Session,
    project: str,
    experiment_id: str,
    data: _RunData,
    parent_id: str | None,
    source_uri: str,
) -> str:
    run = _runs.create_run(
        session,
        project,
        experiment_id,
        name=data.name,
        parent_run_id=parent_id,
        start_time=data.start_time,
        tags={SOURCE_RUN_TAG: data.source_id, SOURCE_URI_TAG: source_uri},
        user=data.user,
    )
    _log(session, project, run.id, data)
    return run.id


def _resume_run(session: Session, project: str, run_id: str, data: _RunData) -> _RunData:
    """Add what a run imported while it was running has gained since; return the additions."""
    have = {
        (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value)
        for points in _runs.get_metric_histories(session, project, [run_id])
        .get(run_id, {})
        .values()
        for m in points
    }
    fresh = [
        m
        for m in data.metrics
        if (m.key, m.step, m.timestamp, "nan" if math.isnan(m.value) else m.value) not in have
    ]
    stored = _runs.get_run(session, project, run_id)
    params = [(k, v) for k, v in data.params if k not in stored.params]
    tags = [(k, v) for k, v in data.tags if stored.tags.get(k) != v]
    used = {(d.name, d.digest, d.context) for d in stored.inputs}
    inputs = [d for d in data.inputs if (d.name, d.digest, d.context) not in used]
    added = dataclasses.replace(data, metrics=fresh, params=params, tags=tags, inputs=inputs)
    _log(session, project, run_id, added)
    return added


def _count(summary: ImportSummary, data: _RunData) -> None:
    summary.metric_points += len(data.metrics)
    summary.params += len(data.params)
    summary.tags += len(data.tags)
    summary.artifacts += len(data.artifacts)
    summary.artifact_bytes += sum(a.size for a in data.artifacts)
    summary.dataset_inputs += len(data.inputs)


def _experiment(context: Context, source: Any, summary: ImportSummary, dry_run: bool) -> str | None:
    name = experiment_name(source.name)
    project = context.settings.project
    try:
        found = context.db.read(_experiments.get_experiment_by_name, project, name)
    except NotFound:
        summary.experiments_created += 1
        if dry_run:
            return None

        def create(session: Session) -> str:
            keys = _Keys(summary, f"experiment {source.name!r}")
            tags = dict(keys.items(dict(source.tags), MAX_TAG_VALUE_LENGTH, "tag"))
            return _experiments.create_experiment(
                session,
                project,
                name,
                description=source.tags.get("mlflow.note.content", ""),
                tags=tags,
            ).id

        return context.db.run(create)
    summary.experiments_existing += 1
    # Refuses a deleted experiment with a clear message (restore it first).
    return context.db.read(_experiments.ensure_experiment, project, found.name).id


def _import_runs(
    context: Context,
    client: Any,
    source_uri: str,
    experiments: list[Any],
    summary: ImportSummary,
    progress: Progress | None,
    dry_run: bool,
) -> dict[str, str | None]:
    """Import the runs; returns MLflow experiment id -> Kiln experiment id (None: dry run)."""
    project = context.settings.project
    imported = context.db.read(_imported_runs, project)
    summary.run_ids.update({source: kiln for source, (kiln, _) in imported.items()})
    plan: list[tuple[str | None, Any]] = []
    experiment_ids: dict[str, str | None] = {}
    for source in experiments:
        experiment_id = _experiment(context, source, summary, dry_run)
        experiment_ids[source.experiment_id] = experiment_id
        plan.extend((experiment_id, run) for run in _source_runs(client, source.experiment_id))
    upload = _artifact_uploader(client, context, summary)
    total = len(plan)
    for done, (experiment_id, run) in enumerate(plan):
        source_id = run.info.run_id
        label = f"{run.info.run_name or source_id}"
        if progress is not None:
            progress(done, total, label)
        existing = imported.get(source_id)
        if existing is not None and RunStatus(existing[1]).is_terminated:
            summary.runs_skipped += 1
            continue
        if dry_run:
            if existing is None:
                summary.runs_imported += 1
            else:
                summary.runs_updated += 1
            continue
        data = _read_run(client, run, summary, upload)
        if existing is not None:
            added = context.db.run(_resume_run, project, existing[0], data)
            summary.runs_updated += 1
            _count(summary, added)
            continue
        assert experiment_id is not None
        parent = summary.run_ids.get(data.parent_source_id or "")
        if parent is not None:
            data.tags = [(k, parent if k == "mlflow.parentRunId" else v) for k, v in data.tags]
        kiln_id = context.db.run(_create_run, project, experiment_id, data, parent, source_uri)
        summary.run_ids[source_id] = kiln_id
        summary.runs_imported += 1
        _count(summary, data)
    if progress is not None:
        progress(total, total, "done")
    return experiment_ids


def import_mlflow(
    context: Context,
    source_uri: str,
    *,
    experiments: Sequence[str] | None = None,
    registry: bool = True,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Copy MLflow experiments, runs, logged models, artifacts and registry into the project.

    ``experiments`` limits the import to those MLflow experiment names (and
    the registry to versions of their runs); ``dry_run`` counts what would be
    added without reading metric histories or artifacts and without writing.
    Running it again adds only what is new (see docs/mlflow-import.md).
    """
    if not source_uri:
        raise InvalidInput("the MLflow source URI is empty", field="source")
    from mlflow.exceptions import MlflowException

    summary = ImportSummary(source=source_uri, dry_run=dry_run)
    try:
        client = _client(source_uri)
        chosen = _source_experiments(client, experiments)
        experiment_ids = _import_runs(
            context, client, source_uri, chosen, summary, progress, dry_run
        )
        _import_logged_models(context, client, source_uri, experiment_ids, summary, dry_run)
        if registry:
            selected: set[str] | None = None
            if experiments is not None:
                selected = {
                    run.info.run_id
                    for source in chosen
                    for run in _source_runs(client, source.experiment_id)
                }
            _import_registry(context, client, summary, selected, dry_run)
    except MlflowException as error:
        raise KilnError(
            f"reading the MLflow source {source_uri} failed: {error.message}"
        ) from error
    return summary
