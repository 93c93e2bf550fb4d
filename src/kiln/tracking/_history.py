"""Metric history for charts and large runs: pages, and per-run samples of many runs.

``metric_point_counts`` says how many points each key of a run has (so a page
knows which metrics are curves before reading any). ``metric_history_page``
pages one key of one run by position (step, time, insertion), so a client
walking a million points holds one page at a time.
``sample_metric_histories`` is MLflow's ``get-history-bulk-interval``: up to
``max_results`` points per run, evenly spread over the run's ordered points,
always with the run's last point. Sampling happens in the database with window
functions (SQLite 3.25+, PostgreSQL) in one query for every run, so only the
sampled points leave it.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.orm import Session

from kiln.db.tables import ExperimentRow, MetricRow, ProjectRow, RunRow
from kiln.errors import InvalidInput, NotFound
from kiln.tracking._entities import Metric

#: MLflow's limits for ``get-history-bulk-interval``.
MAX_SAMPLED_RUNS = 100
MAX_SAMPLES_PER_RUN = 2500


def _runs_in(session: Session, project: str, run_ids: Sequence[str]) -> set[str]:
    return set(
        session.scalars(
            select(RunRow.id)
            .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
            .join(ProjectRow, ProjectRow.id == ExperimentRow.project_id)
            .where(RunRow.id.in_(list(run_ids)), ProjectRow.name == project)
        )
    )


def _check_runs(session: Session, project: str, run_ids: Sequence[str]) -> None:
    found = _runs_in(session, project, run_ids)
    for run_id in run_ids:
        if run_id not in found:
            raise NotFound(f"run {run_id!r} does not exist in project {project!r}")


def _token(step: int, timestamp: int, row_id: int) -> str:
    data = json.dumps({"after": [step, timestamp, row_id]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _after(page_token: str) -> tuple[int, int, int]:
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
        if len(after) != 3 or not all(type(v) is int for v in after):
            raise ValueError(after)
        return after[0], after[1], after[2]
    except (AttributeError, UnicodeError, ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidInput(
            f"page_token {page_token[:40]!r} is not a token of this metric history; "
            "start again without page_token",
            field="page_token",
        ) from None


def metric_history_page(
    session: Session,
    project: str,
    run_id: str,
    key: str,
    *,
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[Metric], str | None]:
    """Points of one metric by step, then time; with ``max_results``, one page and the next token.

    The token names the last point returned, so a page costs one indexed range
    read however deep into the history it is (no OFFSET).
    """
    if max_results is not None and max_results < 1:
        raise InvalidInput(
            f"max_results must be a positive integer, got {max_results}", field="max_results"
        )
    _check_runs(session, project, [run_id])
    query = (
        select(MetricRow.id, MetricRow.value, MetricRow.is_nan, MetricRow.step, MetricRow.timestamp)
        .where(MetricRow.run_id == run_id, MetricRow.key == key)
        .order_by(MetricRow.step, MetricRow.timestamp, MetricRow.id)
    )
    if page_token:
        query = query.where(
            tuple_(MetricRow.step, MetricRow.timestamp, MetricRow.id) > tuple_(*_after(page_token))
        )
    if max_results is not None:
        query = query.limit(max_results + 1)
    rows = session.execute(query).all()
    token = None
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        last = rows[-1]
        token = _token(last.step, last.timestamp, last.id)
    points = [
        Metric(key, math.nan if row.is_nan else row.value, row.step, row.timestamp) for row in rows
    ]
    return points, token


def _identity(row: Any) -> tuple[object, ...]:
    return (row.step, row.timestamp, None if row.is_nan else row.value, row.is_nan)


def sample_metric_histories(
    session: Session,
    project: str,
    run_ids: Sequence[str],
    key: str,
    *,
    max_results: int = MAX_SAMPLES_PER_RUN,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[tuple[str, Metric]]:
    """``(run_id, point)`` samples of metric ``key`` for each run, in ``run_ids`` order.

    Per run, the ordered points (by step, time, value) are cut into
    ``max_results`` equal buckets and the first point of each is kept; the
    run's last point replaces the final sample when it is not one already
    (MLflow's SQL store samples the same way, so charts look the same).
    ``start_step``/``end_step`` (both or neither) limit the points to that range.
    A run that does not exist in ``project`` gives no points (as in MLflow, a
    chart of a since-deleted run still draws the others).
    """
    ids = list(dict.fromkeys(run_ids))
    if not ids:
        raise InvalidInput("give at least one run id", field="run_ids")
    if len(ids) > MAX_SAMPLED_RUNS:
        raise InvalidInput(
            f"at most {MAX_SAMPLED_RUNS} run ids per request, got {len(ids)}", field="run_ids"
        )
    if not 1 <= max_results <= MAX_SAMPLES_PER_RUN:
        raise InvalidInput(
            f"max_results must be between 1 and {MAX_SAMPLES_PER_RUN}", field="max_results"
        )
    if (start_step is None) != (end_step is None):
        raise InvalidInput("give both start_step and end_step, or neither", field="start_step")
    if start_step is not None and end_step is not None and start_step > end_step:
        raise InvalidInput(
            f"end_step must be greater than start_step; got start_step={start_step} "
            f"and end_step={end_step}",
            field="end_step",
        )
    known = _runs_in(session, project, ids)
    ids = [run_id for run_id in ids if run_id in known]
    if not ids:
        return []
    order = (MetricRow.step, MetricRow.timestamp, MetricRow.value, MetricRow.is_nan, MetricRow.id)
    points = select(
        MetricRow.run_id,
        MetricRow.value,
        MetricRow.is_nan,
        MetricRow.step,
        MetricRow.timestamp,
        MetricRow.id,
        func.ntile(max_results).over(partition_by=MetricRow.run_id, order_by=order).label("bucket"),
        func.row_number()
        .over(partition_by=MetricRow.run_id, order_by=[c.desc() for c in order])
        .label("from_end"),
    ).where(MetricRow.run_id.in_(ids), MetricRow.key == key)
    if start_step is not None and end_step is not None:
        points = points.where(MetricRow.step >= start_step, MetricRow.step <= end_step)
    bucketed = points.subquery()
    c = bucketed.c
    ranked = select(
        c.run_id,
        c.value,
        c.is_nan,
        c.step,
        c.timestamp,
        c.id,
        c.from_end,
        func.row_number()
        .over(
            partition_by=(c.run_id, c.bucket),
            order_by=(c.step, c.timestamp, c.value, c.is_nan, c.id),
        )
        .label("in_bucket"),
    ).subquery()
    r = ranked.c
    query = (
        select(r.run_id, r.value, r.is_nan, r.step, r.timestamp, r.in_bucket, r.from_end)
        .where(or_(r.in_bucket == 1, r.from_end == 1))
        .order_by(r.run_id, r.step, r.timestamp, r.value, r.is_nan, r.id)
    )
    samples: dict[str, list[Any]] = defaultdict(list)
    for row in session.execute(query):
        kept = samples[row.run_id]
        if row.in_bucket == 1:
            kept.append(row)
        elif not kept or _identity(kept[-1]) != _identity(row):
            # The last point, not first of its bucket: it ends the sample.
            if len(kept) >= max_results:
                kept[-1] = row
            else:
                kept.append(row)
    return [
        (run_id, Metric(key, math.nan if row.is_nan else row.value, row.step, row.timestamp))
        for run_id in ids
        for row in samples.get(run_id, ())
    ]


def metric_point_counts(session: Session, project: str, run_id: str) -> dict[str, int]:
    """Points per metric key of one run, from the history's index alone (no value is read)."""
    _check_runs(session, project, [run_id])
    query = (
        select(MetricRow.key, func.count())
        .where(MetricRow.run_id == run_id)
        .group_by(MetricRow.key)
    )
    return {key: int(count) for key, count in session.execute(query)}
