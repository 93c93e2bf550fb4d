"""Compare runs: metric curves, parallel coordinates over params and final metrics, a param diff.

``/compare?runs=<id>,<id>`` (or one ``runs`` per id, as the runs table's form
sends them) takes 2 to 20 runs of the project, from any experiments. Each
metric logged by at least two of them gets a chart; histories are read one
key at a time and cut to :data:`~kiln.server.ui._charts.MAX_POINTS` per run
(min/max kept), so memory holds one key's points at once.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from kiln.errors import InvalidInput, NotFound
from kiln.server.deps import DbDep
from kiln.server.ui import _charts
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render
from kiln.tracking._entities import Run

router = APIRouter(route_class=UiRoute)

MIN_RUNS, MAX_RUNS = 2, 20
#: At most this many metric charts (the keys most runs share first).
MAX_CHARTS = 24
#: Axes of the parallel-coordinates chart beyond the runs' own.
MAX_PARAM_AXES = 12
MAX_METRIC_AXES = 8


@dataclass(frozen=True, slots=True)
class Compared:
    run: Run
    label: str
    colour: str
    experiment: str


@dataclass(frozen=True, slots=True)
class Row:
    """A line of the param or metric table: the key and each run's value as shown."""

    key: str
    values: list[str]
    differs: bool


def run_ids(values: Sequence[str]) -> list[str]:
    """Run ids from ``runs`` values, each a single id or a comma-separated list, in order."""
    ids = [part.strip() for value in values for part in value.split(",")]
    ids = list(dict.fromkeys(i for i in ids if i))
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise InvalidInput(
            f"compare {MIN_RUNS} to {MAX_RUNS} runs (got {len(ids)}): tick them in a runs table, "
            "or give /compare?runs=<id>,<id>",
            field="runs",
        )
    for run_id in ids:
        if len(run_id) > 64 or not run_id.replace("-", "").replace("_", "").isalnum():
            raise InvalidInput(f"{run_id[:70]!r} is not a run id", field="runs")
    return ids


def _load(session: Session, project: str, ids: list[str]) -> tuple[list[Run], dict[str, str]]:
    from kiln.tracking import _experiments, _search

    quoted = ", ".join(f"'{run_id}'" for run_id in ids)
    found, _ = _search.search_runs(
        session,
        project,
        filter_string=f"attributes.run_id IN ({quoted})",
        max_results=MAX_RUNS,
        run_view="all",
    )
    by_id = {run.id: run for run in found}
    for run_id in ids:
        if run_id not in by_id:
            raise NotFound(f"run {run_id!r} does not exist in project {project!r}")
    names = {
        e.id: e.name for e in _experiments.list_experiments(session, project, include_deleted=True)
    }
    return [by_id[run_id] for run_id in ids], names


def _labels(runs: Sequence[Run]) -> list[str]:
    """Run names, made unique with the id's start where two runs share one."""
    names = [run.name or run.id[:8] for run in runs]
    seen = Counter(names)
    return [
        f"{name} · {run.id[:6]}" if seen[name] > 1 else name
        for name, run in zip(names, runs, strict=True)
    ]


def _curves(
    session: Session, project: str, compared: Sequence[Compared], keys: Sequence[str]
) -> list[dict[str, Any]]:
    """One line chart per key; each key's histories are read, cut, and dropped in turn."""
    from kiln.tracking import _runs

    charts = []
    for key in keys:
        having = [c for c in compared if key in c.run.metrics]
        histories = _runs.get_metric_histories(session, project, [c.run.id for c in having], [key])
        series = []
        for item in compared:
            points = histories.get(item.run.id, {}).get(key, [])
            if not points:  # keeps each run's colour the same in every chart
                series.append(_charts.Series(item.label, [], []))
                continue
            series.append(
                _charts.downsampled(item.label, [p.step for p in points], [p.value for p in points])
            )
        charts.append(_charts.line_chart(series, key, "step", key))
    return charts


def _shown(value: float) -> str:
    from kiln.server.ui._templates import num

    return num(value)


def _final(value: float) -> float | None:
    return value if math.isfinite(value) else None


@router.get("/compare")
def compare(
    request: Request,
    db: DbDep,
    viewing: Reader,
    runs: Annotated[list[str] | None, Query()] = None,
) -> Response:
    ids = run_ids(runs or [])
    project = viewing.project
    found, experiment_names = db.read(_load, project, ids)
    labels = _labels(found)
    compared = [
        Compared(run, label, _charts.colour(i), experiment_names.get(run.experiment_id, ""))
        for i, (run, label) in enumerate(zip(found, labels, strict=True))
    ]
    shared = Counter(key for run in found for key in run.metrics)
    keys = sorted((k for k, n in shared.items() if n >= 2), key=lambda k: (-shared[k], k))
    curves = db.read(_curves, project, compared, keys[:MAX_CHARTS])

    param_rows: list[Row] = []
    same_rows: list[Row] = []
    for key in sorted({key for run in found for key in run.params}):
        raw = [run.params.get(key) for run in found]
        row = Row(key, ["—" if v is None else v for v in raw], len(set(raw)) > 1)
        (param_rows if row.differs else same_rows).append(row)
    metric_rows: list[Row] = []
    for key in sorted(shared):
        points = [run.metrics.get(key) for run in found]
        shown = ["—" if p is None else _shown(p.value) for p in points]
        metric_rows.append(Row(key, shown, len(set(shown)) > 1))

    axes = [
        _charts.Dimension(f"params.{row.key}", [run.params.get(row.key) for run in found])
        for row in param_rows[:MAX_PARAM_AXES]
    ]
    everywhere = [k for k in sorted(shared) if shared[k] == len(found)][:MAX_METRIC_AXES]
    axes += [
        _charts.Dimension(f"metrics.{key}", [_final(run.metrics[key].value) for run in found])
        for key in everywhere
    ]
    parallel = _charts.parallel_coordinates(labels, axes) if axes else None
    experiments = {run.experiment_id for run in found}
    return render(
        request,
        "compare.html",
        viewing,
        title=f"Compare {len(found)} runs",
        charts=True,
        compared=compared,
        curves=curves,
        skipped_keys=keys[MAX_CHARTS:],
        single_keys=sorted(k for k, n in shared.items() if n < 2),
        parallel=parallel,
        parallel_width=160 + 90 * len(axes),
        param_rows=param_rows,
        same_rows=same_rows,
        metric_rows=metric_rows,
        experiment_id=next(iter(experiments)) if len(experiments) == 1 else None,
        experiment_names=experiment_names,
    )
