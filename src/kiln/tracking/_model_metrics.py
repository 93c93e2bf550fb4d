"""Metrics linked to MLflow 3 logged models (``model_id`` on a logged metric).

MLflow 3 clients link a metric to a model in two ways: ``log_metric(...,
model_id=...)`` (or an active model), and ``log_model``, which re-sends the
run's points of the model's step with the new ``model_id``. As MLflow's SQL
store does, a linked point goes to the run's history once (a point already
there is not appended again) and to ``logged_model_metrics`` once per model.
Unlinked points never come here: ``log_batch`` stays the hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from kiln.db.tables import ExperimentRow, LoggedModelRow, MetricRow, ProjectRow
from kiln.db.tables.tracking import LoggedModelMetricRow
from kiln.errors import InvalidInput, NotFound
from kiln.tracking import _runs
from kiln.tracking._entities import Metric, Param
from kiln.tracking._logged_models import ModelMetric
from kiln.tracking._names import MAX_NAME_LENGTH, check_key

_DIGEST_LENGTH = 64


@dataclass(frozen=True, slots=True)
class LinkedMetric:
    """A point as an MLflow 3 client sends it: the run's metric, maybe linked to a model."""

    metric: Metric
    model_id: str | None = None
    dataset_name: str | None = None
    dataset_digest: str | None = None


def _point(key: str, value: float, step: int, timestamp: int) -> tuple[object, ...]:
    """A point's identity; NaN equals NaN here (as in MLflow's primary key)."""
    return (key, int(step), int(timestamp), "nan" if math.isnan(value) else float(value))


def _check_models(session: Session, project: str, model_ids: set[str]) -> None:
    found = set(
        session.scalars(
            select(LoggedModelRow.id)
            .join(ExperimentRow, ExperimentRow.id == LoggedModelRow.experiment_id)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(
                LoggedModelRow.id.in_(sorted(model_ids)),
                ProjectRow.name == project,
                LoggedModelRow.deleted.is_(False),
            )
        )
    )
    missing = sorted(model_ids - found)
    if missing:
        raise NotFound(f"logged model {missing[0]!r} does not exist in project {project!r}")


def _check_dataset(item: LinkedMetric) -> None:
    if item.dataset_name is not None and len(item.dataset_name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"dataset name of metric {item.metric.key!r} is longer than {MAX_NAME_LENGTH}",
            field="metrics.dataset_name",
        )
    if item.dataset_digest is not None and len(item.dataset_digest) > _DIGEST_LENGTH:
        raise InvalidInput(
            f"dataset digest of metric {item.metric.key!r} is longer than {_DIGEST_LENGTH}",
            field="metrics.dataset_digest",
        )


def log_batch_linked(
    session: Session,
    project: str,
    run_id: str,
    metrics: Sequence[LinkedMetric],
    *,
    params: Iterable[Param | tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """``log_batch`` for a batch in which some points carry a ``model_id``."""
    linked = [m for m in metrics if m.model_id]
    if not linked:
        _runs.log_batch(
            session, project, run_id, metrics=[m.metric for m in metrics], params=params, tags=tags
        )
        return
    _runs.writable_run(session, project, run_id)
    for item in linked:
        check_key(item.metric.key, what="metric key", field="metrics.key")
        _check_dataset(item)
    _check_models(session, project, {str(m.model_id) for m in linked})
    keys = sorted({m.metric.key for m in linked})
    in_history = {
        _point(key, math.nan if is_nan else value, step, timestamp)
        for key, value, is_nan, step, timestamp in session.execute(
            select(
                MetricRow.key,
                MetricRow.value,
                MetricRow.is_nan,
                MetricRow.step,
                MetricRow.timestamp,
            ).where(MetricRow.run_id == run_id, MetricRow.key.in_(keys))
        )
    }
    fresh: list[Metric] = []
    for item in metrics:
        m = item.metric
        point = _point(m.key, m.value, m.step, m.timestamp)
        if item.model_id and point in in_history:
            continue
        in_history.add(point)
        fresh.append(m)
    _runs.log_batch(session, project, run_id, metrics=fresh, params=params, tags=tags)
    record_model_metrics(
        session,
        [
            (
                str(item.model_id),
                ModelMetric(
                    item.metric.key,
                    item.metric.value,
                    item.metric.step,
                    item.metric.timestamp,
                    run_id=run_id,
                    dataset_name=item.dataset_name or None,
                    dataset_digest=item.dataset_digest or None,
                ),
            )
            for item in linked
        ],
    )


def record_model_metrics(session: Session, points: Sequence[tuple[str, ModelMetric]]) -> int:
    """Link points to models (``(model_id, point)`` pairs), skipping links already stored.

    A link is the same when model, key, step, timestamp and run match (MLflow's
    key for it); returns how many were added. Models are not checked here.
    """
    if not points:
        return 0
    model_ids = sorted({model_id for model_id, _ in points})
    keys = sorted({point.key for _, point in points})
    stored = {
        tuple(row)
        for row in session.execute(
            select(
                LoggedModelMetricRow.model_id,
                LoggedModelMetricRow.key,
                LoggedModelMetricRow.step,
                LoggedModelMetricRow.timestamp,
                LoggedModelMetricRow.run_id,
            ).where(
                LoggedModelMetricRow.model_id.in_(model_ids),
                LoggedModelMetricRow.key.in_(keys),
            )
        )
    }
    rows: list[dict[str, object]] = []
    for model_id, point in points:
        identity = (model_id, point.key, int(point.step), int(point.timestamp), point.run_id)
        if identity in stored:
            continue
        stored.add(identity)
        nan = math.isnan(point.value)
        rows.append(
            {
                "model_id": model_id,
                "run_id": point.run_id,
                "key": point.key,
                "value": 0.0 if nan else float(point.value),
                "is_nan": nan,
                "step": int(point.step),
                "timestamp": int(point.timestamp),
                "dataset_name": point.dataset_name,
                "dataset_digest": point.dataset_digest,
            }
        )
    if rows:
        session.connection().execute(insert(LoggedModelMetricRow), rows)
    return len(rows)
