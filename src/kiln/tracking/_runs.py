"""Runs: create, read, end, delete; and ``log_batch``, the one write path for their data."""

from __future__ import annotations

import math
import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from kiln.db.tables import (
    DatasetRow,
    ExperimentRow,
    LatestMetricRow,
    MetricRow,
    ParamRow,
    ProjectRow,
    RunInputRow,
    RunRow,
    RunTagRow,
)
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking._batch import insert_params, statements, upsert_latest, upsert_tags
from kiln.tracking._entities import DatasetInput, LifecycleStage, Metric, Param, Run, RunStatus
from kiln.tracking._experiments import parse_experiment_id
from kiln.tracking._names import (
    check_key,
    check_name,
)

#: MLflow's per-request limits, kept so one batch maps onto one API call.
MAX_BATCH_METRICS = 1000
MAX_BATCH_PARAMS = 100
MAX_BATCH_TAGS = 100

_ADJECTIVES = ("amber", "bold", "brisk", "calm", "clever", "deft", "eager", "fond", "glad", "keen")
_NOUNS = (
    "anvil",
    "badger",
    "cedar",
    "comet",
    "ember",
    "falcon",
    "forge",
    "heron",
    "otter",
    "quartz",
)


_INSERT_RUN = insert(RunRow)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _random_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"


def run_row(session: Session, project: str, run_id: str) -> RunRow:
    """The row of run ``run_id`` in ``project``, or ``NotFound``."""
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"run id {run_id!r} is not valid", field="run_id")
    row = session.scalar(
        select(RunRow)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(RunRow.id == run_id, ProjectRow.name == project)
    )
    if row is None:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}")
    return row


def create_run(
    session: Session,
    project: str,
    experiment_id: str | int,
    *,
    name: str | None = None,
    parent_run_id: str | None = None,
    start_time: int | None = None,
    tags: dict[str, str] | None = None,
    user: str = "",
    status: RunStatus = RunStatus.RUNNING,
) -> Run:
    """Start a run in an experiment (which must be active)."""
    experiment = session.execute(
        select(ExperimentRow.id, ExperimentRow.name, ExperimentRow.lifecycle_stage)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ExperimentRow.id == parse_experiment_id(experiment_id), ProjectRow.name == project)
    ).first()
    if experiment is None:
        raise NotFound(f"experiment {experiment_id!r} does not exist in project {project!r}")
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise Conflict(f"experiment {experiment.name!r} is deleted: restore it to add runs")
    if parent_run_id is not None:
        run_row(session, project, parent_run_id)
    row = RunRow(
        id=secrets.token_hex(16),
        experiment_id=experiment.id,
        name=check_name(name, what="run name") if name is not None else _random_name(),
        status=RunStatus(status).value,
        start_time=start_time if start_time is not None else now_ms(),
        parent_run_id=parent_run_id,
        user=user,
        lifecycle_stage=LifecycleStage.ACTIVE.value,
    )
    session.connection().execute(
        _INSERT_RUN,
        {
            "id": row.id,
            "experiment_id": row.experiment_id,
            "name": row.name,
            "status": row.status,
            "start_time": row.start_time,
            "parent_run_id": row.parent_run_id,
            "user": row.user,
            "lifecycle_stage": row.lifecycle_stage,
        },
    )
    if tags:
        upsert_tags(session, row.id, list(tags.items()))
    return Run(
        id=row.id,
        experiment_id=str(row.experiment_id),
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=None,
        parent_run_id=row.parent_run_id,
        user=row.user,
        lifecycle_stage=LifecycleStage.ACTIVE,
        tags=dict(tags or {}),
    )


def get_run(session: Session, project: str, run_id: str) -> Run:
    run_row(session, project, run_id)
    return load_runs(session, [run_id])[0]


def run_entity(
    row: Any,
    *,
    params: dict[str, str],
    metrics: dict[str, Metric],
    tags: dict[str, str] | None = None,
    inputs: tuple[DatasetInput, ...] = (),
) -> Run:
    """A :class:`Run` from a ``runs`` row (ORM or Core) and what was loaded for it."""
    return Run(
        id=row.id,
        experiment_id=str(row.experiment_id),
        name=row.name,
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        parent_run_id=row.parent_run_id,
        user=row.user,
        lifecycle_stage=LifecycleStage(row.lifecycle_stage),
        failure=row.failure,
        params=params,
        metrics=metrics,
        tags=tags or {},
        inputs=inputs,
    )


def load_runs(session: Session, run_ids: Sequence[str]) -> list[Run]:
    """Runs with their params, latest metrics, tags and inputs, in ``run_ids`` order.

    Five set queries whatever the number of runs, so a search page costs the same
    for 10 runs as for 1,000.
    """
    if not run_ids:
        return []
    ids = list(dict.fromkeys(run_ids))
    rows = {row.id: row for row in session.scalars(select(RunRow).where(RunRow.id.in_(ids)))}
    params: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in session.execute(
        select(ParamRow.run_id, ParamRow.key, ParamRow.value).where(ParamRow.run_id.in_(ids))
    ):
        params[run_id][key] = value
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for run_id, key, value in session.execute(
        select(RunTagRow.run_id, RunTagRow.key, RunTagRow.value).where(RunTagRow.run_id.in_(ids))
    ):
        tags[run_id][key] = value
    metrics: dict[str, dict[str, Metric]] = defaultdict(dict)
    for latest in session.scalars(select(LatestMetricRow).where(LatestMetricRow.run_id.in_(ids))):
        metrics[latest.run_id][latest.key] = Metric(
            latest.key,
            math.nan if latest.is_nan else latest.value,
            latest.step,
            latest.timestamp,
        )
    inputs: dict[str, list[DatasetInput]] = defaultdict(list)
    for link, dataset in session.execute(
        select(RunInputRow, DatasetRow)
        .join(DatasetRow, DatasetRow.id == RunInputRow.dataset_id)
        .where(RunInputRow.run_id.in_(ids))
        .order_by(DatasetRow.name)
    ):
        inputs[link.run_id].append(
            DatasetInput(
                name=dataset.name,
                digest=dataset.digest,
                source_type=dataset.source_type,
                source=dataset.source,
                schema=dataset.schema,
                profile=dataset.profile,
                context=link.context,
            )
        )
    return [
        run_entity(
            row,
            params=params.get(row.id, {}),
            metrics=metrics.get(row.id, {}),
            tags=tags.get(row.id, {}),
            inputs=tuple(inputs.get(row.id, ())),
        )
        for run_id in run_ids
        if (row := rows.get(run_id)) is not None
    ]


def update_run(
    session: Session,
    project: str,
    run_id: str,
    *,
    status: RunStatus | str | None = None,
    end_time: int | None = None,
    name: str | None = None,
    failure: str | None = None,
) -> Run:
    """Rename a run or change its status; a terminal status stamps ``end_time``."""
    row = run_row(session, project, run_id)
    if name is not None:
        row.name = check_name(name, what="run name")
    if status is not None:
        try:
            new_status = RunStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in RunStatus)
            raise InvalidInput(
                f"status {status!r} is not one of {allowed}", field="status"
            ) from None
        row.status = new_status.value
        if new_status.is_terminated:
            row.end_time = end_time if end_time is not None else (row.end_time or now_ms())
        else:
            row.end_time = None
    elif end_time is not None:
        row.end_time = end_time
    if failure is not None:
        row.failure = failure
    session.flush()
    return load_runs(session, [run_id])[0]


def finish_run(
    session: Session,
    project: str,
    run_id: str,
    status: RunStatus = RunStatus.FINISHED,
    failure: str | None = None,
    *,
    metrics: Sequence[Metric] = (),
    params: Iterable[Param | tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """Write a run's last data and end it with a terminal status, in one transaction."""
    status = RunStatus(status)
    if not status.is_terminated:
        raise InvalidInput(f"{status.value} does not end a run", field="status")
    params, tags = list(params), list(tags)
    if metrics or params or tags:
        log_batch(session, project, run_id, metrics=metrics, params=params, tags=tags)
    values: dict[str, Any] = {"status": status.value, "end_time": now_ms()}
    if failure is not None:
        values["failure"] = failure
    done = session.connection().execute(
        update(RunRow)
        .where(RunRow.id == run_id, RunRow.experiment_id.in_(_project_experiments(project)))
        .values(**values)
    )
    if done.rowcount != 1:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}")


def set_run_lifecycle(session: Session, project: str, run_id: str, stage: LifecycleStage) -> Run:
    """Delete (hide) or restore a run; deleted runs take no new data."""
    row = run_row(session, project, run_id)
    row.lifecycle_stage = stage.value
    session.flush()
    return load_runs(session, [run_id])[0]


def purge_run(session: Session, project: str, run_id: str) -> None:
    """Delete a run and everything it logged from the metadata store, for good."""
    row = run_row(session, project, run_id)
    session.delete(row)
    session.flush()


def _project_experiments(project: str) -> Any:
    """The ids of ``project``'s experiments, as a subquery."""
    return (
        select(ExperimentRow.id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(ProjectRow.name == project)
        .scalar_subquery()
    )


def writable_run(session: Session, project: str, run_id: str) -> None:
    """``NotFound`` unless the run exists; ``Conflict`` unless it can take new data."""
    found = session.execute(
        select(RunRow.status, RunRow.lifecycle_stage)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
        .where(RunRow.id == run_id, ProjectRow.name == project)
    ).first()
    if found is None:
        raise NotFound(f"run {run_id!r} does not exist in project {project!r}")
    status, stage = found
    if stage != LifecycleStage.ACTIVE.value:
        raise Conflict(f"run {run_id} is deleted: restore it before logging to it")
    if RunStatus(status).is_terminated:
        raise Conflict(
            f"run {run_id} is {status}: it takes no new data; start a new run "
            "(or resume this one with status RUNNING)"
        )


def _metric_rows(run_id: str, metrics: Sequence[Metric]) -> list[dict[str, object]]:
    rows = []
    for metric in metrics:
        check_key(metric.key, what="metric key", field="metrics.key")
        try:
            value = float(metric.value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"metric {metric.key!r} has the non-numeric value {metric.value!r}",
                field="metrics.value",
            ) from None
        nan = math.isnan(value)
        rows.append(
            {
                "run_id": run_id,
                "key": metric.key,
                "value": 0.0 if nan else value,
                "is_nan": nan,
                "step": int(metric.step),
                "timestamp": int(metric.timestamp),
            }
        )
    return rows


def log_batch(
    session: Session,
    project: str,
    run_id: str,
    *,
    metrics: Sequence[Metric] = (),
    params: Iterable[Param | tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> None:
    """Record metrics, params and tags of a running run in one transaction.

    Metrics are appended with one multi-row insert and each key's latest point
    is upserted; params are write-once (logging a different value raises
    ``Conflict``, the same value again is a no-op); tags are upserted.
    """
    writable_run(session, project, run_id)
    metric_rows = _metric_rows(run_id, metrics)
    param_items = [(p.key, p.value) if isinstance(p, Param) else p for p in params]
    tag_items = list(tags)
    if metric_rows:
        session.connection().execute(statements(session).metrics, metric_rows)
        upsert_latest(session, metric_rows)
    if param_items:
        insert_params(session, run_id, param_items)
    if tag_items:
        upsert_tags(session, run_id, tag_items)


def delete_tag(session: Session, project: str, run_id: str, key: str) -> None:
    writable_run(session, project, run_id)
    result = session.execute(
        delete(RunTagRow).where(RunTagRow.run_id == run_id, RunTagRow.key == key)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"run {run_id} has no tag {key!r}")


def get_metric_history(session: Session, project: str, run_id: str, key: str) -> list[Metric]:
    """Every point of one metric of one run, by step then timestamp."""
    run_row(session, project, run_id)
    return get_metric_histories(session, project, [run_id], [key]).get(run_id, {}).get(key, [])


def get_metric_histories(
    session: Session,
    project: str,
    run_ids: Sequence[str],
    keys: Sequence[str] | None = None,
) -> dict[str, dict[str, list[Metric]]]:
    """Histories of several runs (and optionally only some keys) in one query."""
    allowed = set(
        session.scalars(
            select(RunRow.id)
            .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(RunRow.id.in_(list(run_ids)), ProjectRow.name == project)
        )
    )
    missing = [run_id for run_id in run_ids if run_id not in allowed]
    if missing:
        raise NotFound(f"run {missing[0]!r} does not exist in project {project!r}")
    query = (
        select(
            MetricRow.run_id,
            MetricRow.key,
            MetricRow.value,
            MetricRow.is_nan,
            MetricRow.step,
            MetricRow.timestamp,
        )
        .where(MetricRow.run_id.in_(list(run_ids)))
        .order_by(
            MetricRow.run_id, MetricRow.key, MetricRow.step, MetricRow.timestamp, MetricRow.id
        )
    )
    if keys is not None:
        query = query.where(MetricRow.key.in_(list(keys)))
    out: dict[str, dict[str, list[Metric]]] = defaultdict(lambda: defaultdict(list))
    for run_id, key, value, is_nan, step, timestamp in session.execute(query):
        out[run_id][key].append(Metric(key, math.nan if is_nan else value, step, timestamp))
    return {run_id: dict(histories) for run_id, histories in out.items()}
