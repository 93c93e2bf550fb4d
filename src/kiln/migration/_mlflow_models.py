"""Importing MLflow 3 logged models: name, type, params, tags, status, files, linked metrics.

A logged model gets a new Kiln id (``m-…``, as Kiln creates them) and the tag
``kiln.import.model_id`` holding its MLflow id; a later import looks that up.
An imported model is skipped next time unless it was PENDING then and MLflow
has finalized it since: such a model gets its new files, params, tags, metrics
and final status. Its
``source_run_id`` is the imported run's Kiln id, and registry versions whose
source is ``models:/<MLflow id>`` point at the Kiln model (``_mlflow_registry``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db.tables import ExperimentRow, LoggedModelRow, ProjectRow
from kiln.migration._mlflow_common import (
    SOURCE_MODEL_TAG,
    ImportSummary,
    _Keys,
    _run_name,
    store_folder,
)
from kiln.migration._mlflow_source import _pages, _value
from kiln.tracking import _logged_models, _model_metrics
from kiln.tracking._entities import RunArtifact
from kiln.tracking._logged_models import ModelMetric

if TYPE_CHECKING:
    from kiln.context import Context

#: MLflow's logged model statuses -> Kiln's.
_STATUSES = {"READY": "READY", "FAILED": "UPLOAD_FAILED", "PENDING": "PENDING"}


@dataclass
class _ModelData:
    """One MLflow logged model, read and mapped, ready to be written in one transaction."""

    source_id: str
    name: str | None
    model_type: str
    source_run_id: str | None
    status: str
    params: dict[str, str]
    tags: dict[str, str]
    created_at: datetime | None
    files: list[RunArtifact]
    metrics: list[ModelMetric]


def _imported_models(session: Session, project: str) -> dict[str, tuple[str, str, bool]]:
    """MLflow model id -> (Kiln model id, Kiln status, deleted) of the models imported before."""
    rows = session.execute(
        select(
            LoggedModelRow.id, LoggedModelRow.status, LoggedModelRow.deleted, LoggedModelRow.tags
        )
        .join(ExperimentRow, ExperimentRow.id == LoggedModelRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ProjectRow.name == project, LoggedModelRow.tags.contains(SOURCE_MODEL_TAG))
    )
    found: dict[str, tuple[str, str, bool]] = {}
    for model_id, status, deleted, tags in rows:
        source = json.loads(tags).get(SOURCE_MODEL_TAG)
        if source:
            found[source] = (model_id, status, deleted)
    return found


def _source_models(client: Any, experiment_id: str, summary: ImportSummary) -> list[Any]:
    """The experiment's logged models; none from a source older than MLflow 3 (noted)."""
    from mlflow.exceptions import MlflowException

    try:
        models = list(
            _pages(
                lambda token: client.search_logged_models(
                    experiment_ids=[experiment_id], max_results=100, page_token=token
                )
            )
        )
    except (MlflowException, NotImplementedError) as error:
        if isinstance(error, MlflowException) and error.error_code != "ENDPOINT_NOT_FOUND":
            raise
        note = f"experiment {experiment_id}: logged models (the source has none: MLflow < 3)"
        summary.skipped.append(note)
        return []
    return sorted(models, key=lambda m: (m.creation_timestamp or 0, m.model_id))


def _files(
    model: Any, source_uri: str, context: Context, summary: ImportSummary
) -> list[RunArtifact]:
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    repo: Any = get_artifact_repository(model.artifact_location, tracking_uri=source_uri)
    if not repo.list_artifacts():
        return []
    with tempfile.TemporaryDirectory(prefix="kiln-mlflow-import-") as folder:
        root = Path(repo.download_artifacts("", dst_path=folder))
        return store_folder(context, root, summary, f"logged model {model.model_id}")


def _read_model(
    model: Any, source_uri: str, context: Context, summary: ImportSummary
) -> _ModelData:
    keys = _Keys(summary, f"logged model {model.model_id}")
    metric_keys = {m.key for m in model.metrics or []}
    metrics = []
    for point in model.metrics or []:
        key = keys.map(point.key, metric_keys)
        if key is None:
            continue
        metrics.append(
            ModelMetric(
                key,
                _value(point.value),
                int(point.step or 0),
                int(point.timestamp or 0),
                run_id=summary.run_ids.get(point.run_id or ""),
                dataset_name=point.dataset_name or None,
                dataset_digest=point.dataset_digest or None,
            )
        )
    created = model.creation_timestamp
    tags = {str(k): str(v) for k, v in (model.tags or {}).items()}
    return _ModelData(
        source_id=model.model_id,
        name=_run_name(model.name),
        model_type=model.model_type or "",
        source_run_id=summary.run_ids.get(model.source_run_id or ""),
        status=_STATUSES.get(str(model.status), "PENDING"),
        params={str(k): str(v) for k, v in (model.params or {}).items()},
        tags={**tags, SOURCE_MODEL_TAG: model.model_id},
        created_at=datetime.fromtimestamp(created / 1000, UTC) if created else None,
        files=_files(model, source_uri, context, summary),
        metrics=metrics,
    )


def _write_model(
    session: Session, project: str, experiment_id: str, existing: str | None, data: _ModelData
) -> tuple[str, int]:
    """Create (or complete a pending) model with its files and metrics; ``(id, new points)``."""
    if existing is None:
        model_id = _logged_models.create_logged_model(
            session,
            project,
            experiment_id,
            name=data.name,
            model_type=data.model_type,
            source_run_id=data.source_run_id,
            params=data.params,
            tags=data.tags,
            created_by=data.tags.get("mlflow.user", ""),
            created_at=data.created_at,
        ).id
    else:
        model_id = existing
        _logged_models.update_logged_model(
            session, project, model_id, set_tags=data.tags, add_params=data.params
        )
    for file in data.files:
        _logged_models.record_model_artifact(
            session, project, model_id, file.path, file.digest, file.size
        )
    added = _model_metrics.record_model_metrics(session, [(model_id, m) for m in data.metrics])
    if data.status != "PENDING":
        _logged_models.finalize_logged_model(session, project, model_id, data.status)
    return model_id, added


def _import_logged_models(
    context: Context,
    client: Any,
    source_uri: str,
    experiment_ids: dict[str, str | None],
    summary: ImportSummary,
    dry_run: bool,
) -> None:
    """Import the logged models of the chosen experiments (after their runs)."""
    project = context.settings.project
    imported = context.db.read(_imported_models, project)
    summary.logged_model_ids.update({source: kiln for source, (kiln, _, _) in imported.items()})
    for source_experiment, experiment_id in experiment_ids.items():
        for model in _source_models(client, source_experiment, summary):
            existing = imported.get(model.model_id)
            status = _STATUSES.get(str(model.status), "PENDING")
            if existing is not None and (
                existing[1] != "PENDING" or existing[2] or status == "PENDING"
            ):
                summary.logged_models_skipped += 1
                continue
            if dry_run:
                if existing is None:
                    summary.logged_models_imported += 1
                else:
                    summary.logged_models_updated += 1
                continue
            assert experiment_id is not None
            data = _read_model(model, source_uri, context, summary)
            kiln_id, points = context.db.run(
                _write_model,
                project,
                experiment_id,
                existing[0] if existing else None,
                data,
            )
            summary.logged_model_ids[model.model_id] = kiln_id
            if existing is None:
                summary.logged_models_imported += 1
            else:
                summary.logged_models_updated += 1
            summary.logged_model_files += len(data.files)
            summary.logged_model_bytes += sum(f.size for f in data.files)
            summary.logged_model_metrics += points
