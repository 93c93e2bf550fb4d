"""What a runs table needs beyond ``search_runs``: keys, counts, and lean pages.

``search_runs`` loads whole runs (every param, latest metric, tag and input):
right for the API, too much for a table of 100 runs with 100 params and 100
metrics each that shows ten columns (loading them all costs ~0.25 s on
SQLite). These functions take the same filter language, order and views
(the same parser and SQL compiler, so results match ``search_runs``) and
read only what a table shows:

- ``experiment_keys``: the param and metric keys of an experiment's runs, for
  a column chooser. A DISTINCT over every run reads (runs * keys) index
  entries (~0.4 s for 10,000 runs of 100 params, on SQLite as on PostgreSQL),
  so it reads the newest ``sample`` runs only (~40 ms for 500; the
  ``(experiment_id, start_time)`` index finds them) and says whether that was
  all of them.
- ``count_runs``: how many runs match (a COUNT over the same conditions;
  no sort, nothing loaded).
- ``run_table_page``: one page by offset, each run with only the chosen
  params and metrics.
- ``experiment_run_stats``: each experiment's active runs, counted, and the
  latest start (one GROUP BY over the same index).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Subquery, func, select, true
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db.tables import ExperimentRow, LatestMetricRow, ParamRow, RunRow
from kiln.errors import InvalidInput
from kiln.tracking._entities import LifecycleStage, Metric, Run
from kiln.tracking._experiments import experiment_row, parse_experiment_id
from kiln.tracking._runs import run_entity
from kiln.tracking._search import _view, runs_where
from kiln.tracking._search_parse import RUNS, parse_filter, parse_order_by
from kiln.tracking._search_sql import order_runs

__all__ = [
    "ExperimentKeys",
    "RunStats",
    "count_runs",
    "experiment_keys",
    "experiment_run_stats",
    "run_table_page",
]

#: How many of an experiment's newest runs ``experiment_keys`` reads by default.
KEY_SAMPLE_RUNS = 500
#: The largest page ``run_table_page`` returns, and the most keys it loads of each kind.
MAX_PAGE = 1000
MAX_COLUMNS = 100
_ACTIVE = LifecycleStage.ACTIVE.value
_DELETED = LifecycleStage.DELETED.value


@dataclass(frozen=True, slots=True)
class ExperimentKeys:
    """Param and metric keys (sorted); ``complete`` is False when only the newest runs were read."""

    params: list[str]
    metrics: list[str]
    runs_read: int
    complete: bool


@dataclass(frozen=True, slots=True)
class RunStats:
    """An experiment's active runs: how many, and when the latest started (epoch ms)."""

    runs: int
    last_start: int | None


def experiment_keys(
    session: Session, project: str, experiment_id: str | int, *, sample: int = KEY_SAMPLE_RUNS
) -> ExperimentKeys:
    """The keys logged by the newest ``sample`` active runs of an experiment."""
    if not isinstance(sample, int) or isinstance(sample, bool) or sample < 1:
        raise InvalidInput(
            f"sample must be a positive whole number, got {sample!r}", field="sample"
        )
    row = experiment_row(session, project, experiment_id)
    newest = (
        select(RunRow.id)
        .where(RunRow.experiment_id == row.id, RunRow.lifecycle_stage == _ACTIVE)
        .order_by(RunRow.start_time.desc())
    )
    read = session.scalar(select(func.count()).select_from(newest.limit(sample + 1).subquery()))
    runs = newest.limit(sample).subquery()
    params: list[str] = sorted(session.scalars(_distinct_keys(session, ParamRow, runs)))
    metrics: list[str] = sorted(session.scalars(_distinct_keys(session, LatestMetricRow, runs)))
    total = int(read or 0)
    return ExperimentKeys(
        params=params,
        metrics=metrics,
        runs_read=min(total, sample),
        complete=total <= sample,
    )


def _distinct_keys(
    session: Session, table: type[ParamRow] | type[LatestMetricRow], runs: Subquery
) -> Select[Any]:
    """``SELECT DISTINCT key`` of ``table`` over the runs of ``runs``, by the (run_id, key) key.

    PostgreSQL estimates the IN form at a tenth of the table and hashes a full
    scan of it (~0.4 s at 1.2M params); a LATERAL join it cannot flatten
    (``OFFSET 0``) makes it probe the primary key once per run, as SQLite does.
    """
    if session.get_bind().dialect.name == "postgresql":
        per_run = select(table.key).where(table.run_id == runs.c.id).offset(0).lateral("per_run")
        return select(per_run.c.key).select_from(runs).join(per_run, true()).distinct()
    return select(table.key).where(table.run_id.in_(select(runs.c.id))).distinct()


def _matching(
    session: Session,
    project: str,
    experiment_ids: Sequence[str | int],
    filter_string: str,
    run_view: str,
    *columns: Any,
) -> Select[Any]:
    """``SELECT columns`` over the runs ``search_runs`` would return, unordered."""
    if isinstance(experiment_ids, str | int):
        experiment_ids = [experiment_ids]
    ids = sorted({parse_experiment_id(experiment_id) for experiment_id in experiment_ids})
    node = parse_filter(filter_string, RUNS)
    return runs_where(session, project, ids, _view(run_view, "run_view"), node, *columns)


def count_runs(
    session: Session,
    project: str,
    experiment_ids: Sequence[str | int] = (),
    *,
    filter_string: str = "",
    run_view: str = "active_only",
) -> int:
    """How many runs ``search_runs`` with the same arguments would page through."""
    query = _matching(session, project, experiment_ids, filter_string, run_view, func.count())
    return int(session.scalar(query) or 0)


def _check_keys(keys: Sequence[str], field: str) -> list[str]:
    if isinstance(keys, str) or len(keys) > MAX_COLUMNS:
        raise InvalidInput(f"give a list of at most {MAX_COLUMNS} keys", field=field)
    return list(dict.fromkeys(keys))


def run_table_page(
    session: Session,
    project: str,
    experiment_ids: Sequence[str | int] = (),
    *,
    filter_string: str = "",
    order_by: Sequence[str] = (),
    run_view: str = "active_only",
    offset: int = 0,
    max_results: int = 25,
    params: Sequence[str] = (),
    metrics: Sequence[str] = (),
) -> tuple[list[Run], bool]:
    """The runs at ``offset`` in ``search_runs`` order, and whether more follow.

    Each run holds only the ``params`` and latest ``metrics`` asked for (no
    tags, no inputs): four small queries whatever the runs hold.
    """
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"offset must be 0 or more, got {offset!r}", field="offset")
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 1 <= max_results <= MAX_PAGE
    ):
        raise InvalidInput(
            f"max_results must be a whole number from 1 to {MAX_PAGE:,}, got {max_results!r}",
            field="max_results",
        )
    param_keys, metric_keys = _check_keys(params, "params"), _check_keys(metrics, "metrics")
    terms = parse_order_by(order_by, RUNS)
    query = _matching(session, project, experiment_ids, filter_string, run_view, RunRow.id)
    query = order_runs(query, terms, session.get_bind().dialect.name)
    run_ids = list(session.scalars(query.offset(offset).limit(max_results + 1)))
    more = len(run_ids) > max_results
    run_ids = run_ids[:max_results]
    if not run_ids:
        return [], more
    rows = {row.id: row for row in session.scalars(select(RunRow).where(RunRow.id.in_(run_ids)))}
    values: dict[str, dict[str, str]] = defaultdict(dict)
    if param_keys:
        for run_id, key, value in session.execute(
            select(ParamRow.run_id, ParamRow.key, ParamRow.value).where(
                ParamRow.run_id.in_(run_ids), ParamRow.key.in_(param_keys)
            )
        ):
            values[run_id][key] = value
    latest: dict[str, dict[str, Metric]] = defaultdict(dict)
    if metric_keys:
        m = LatestMetricRow
        for run_id, key, number, is_nan, step, timestamp in session.execute(
            select(m.run_id, m.key, m.value, m.is_nan, m.step, m.timestamp).where(
                m.run_id.in_(run_ids), m.key.in_(metric_keys)
            )
        ):
            latest[run_id][key] = Metric(key, math.nan if is_nan else number, step, timestamp)
    runs = [
        run_entity(row, params=values.get(row.id, {}), metrics=latest.get(row.id, {}))
        for run_id in run_ids
        if (row := rows.get(run_id)) is not None
    ]
    return runs, more


def experiment_run_stats(
    session: Session, project: str, experiment_ids: Sequence[str | int]
) -> dict[str, RunStats]:
    """Per experiment id (as given, of ``project``): its active runs' count and latest start."""
    ids = sorted({parse_experiment_id(experiment_id) for experiment_id in experiment_ids})
    stats = {str(experiment_id): RunStats(0, None) for experiment_id in ids}
    if not ids:
        return stats
    query = (
        select(RunRow.experiment_id, func.count(), func.max(RunRow.start_time))
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .where(
            ExperimentRow.project_id == project_id(session, project),
            RunRow.experiment_id.in_(ids),
            RunRow.lifecycle_stage == _ACTIVE,
        )
        .group_by(RunRow.experiment_id)
    )
    for experiment_id, runs, last_start in session.execute(query):
        stats[str(experiment_id)] = RunStats(int(runs), last_start)
    return stats
