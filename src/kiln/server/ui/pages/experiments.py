"""Experiments: the project's list, and one experiment's runs table.

The runs table pages, sorts and filters in the database (the API's filter
language, ``kiln.tracking._search``) and loads only the columns shown
(``kiln.tracking._keys``), so a page costs the same with 10 runs or 10,000 of
100 params and 100 metrics each. Everything the table shows is in its URL
(``filter``, ``order``, ``page``, ``size``, one ``col`` per chosen column), so
a view can be shared and every control is a plain link or GET form; with
JavaScript they swap the table in place (``data-partial``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from kiln.errors import InvalidInput
from kiln.server.deps import DbDep
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render
from kiln.tracking import _experiments, _keys
from kiln.tracking._entities import Experiment, Run
from kiln.tracking._search_parse import RUNS, parse_order_by

router = APIRouter(route_class=UiRoute)

PAGE_SIZES = (25, 50, 100)
#: Columns shown when the URL chooses none: the first metrics and params, by name.
DEFAULT_METRICS = 6
DEFAULT_PARAMS = 4
MAX_COLUMNS = 40
EXPERIMENTS_PER_PAGE = 100
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_PREFIX = {"params": "param", "metrics": "metric"}

Kind = Literal["attribute", "param", "metric"]


def identifier(kind: Kind, key: str) -> str:
    """``key`` as the filter language names it, quoted when it holds other characters."""
    prefix = {"attribute": "attributes", "param": "params", "metric": "metrics"}[kind]
    if _PLAIN_KEY.fullmatch(key):
        return f"{prefix}.{key}"
    return f"{prefix}.`{key.replace('`', '``')}`"


@dataclass(frozen=True, slots=True)
class Column:
    kind: Kind
    key: str
    label: str
    numeric: bool = False
    sortable: bool = True
    #: Filled per request: where a click on the header goes, and ``aria-sort``.
    sort_url: str = ""
    sort: str = "none"


ATTRIBUTES = (
    Column("attribute", "run_name", "Run"),
    Column("attribute", "status", "Status"),
    Column("attribute", "start_time", "Started"),
    Column("attribute", "duration", "Duration", numeric=True, sortable=False),
    Column("attribute", "user", "User"),
)


@dataclass(frozen=True, slots=True)
class TableState:
    """What the URL asks the runs table for; ``cols`` is None when it chooses no columns."""

    path: str
    filter: str = ""
    order: str = ""
    page: int = 1
    size: int = PAGE_SIZES[0]
    cols: tuple[str, ...] | None = None

    def url(self, **changes: Any) -> str:
        state = replace(self, **changes)
        query: list[tuple[str, str]] = []
        if state.filter:
            query.append(("filter", state.filter))
        if state.order:
            query.append(("order", state.order))
        if state.size != PAGE_SIZES[0]:
            query.append(("size", str(state.size)))
        if state.page != 1:
            query.append(("page", str(state.page)))
        if state.cols is not None:
            query += [("col", col) for col in state.cols] or [("col", "")]
        return state.path + ("?" + urlencode(query) if query else "")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def parse_columns(values: Sequence[str]) -> tuple[str, ...]:
    """``params.<key>`` / ``metrics.<key>`` values of ``col``, deduplicated; blanks ignored."""
    chosen: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            continue
        if len(value) > 300:
            raise InvalidInput(f"column {value[:40]!r}… is too long", field="col")
        prefix, _, key = value.partition(".")
        if prefix not in _PREFIX or not key:
            raise InvalidInput(
                f"column {value!r} is not params.<key> or metrics.<key>", field="col"
            )
        if value not in chosen:
            chosen.append(value)
    if len(chosen) > MAX_COLUMNS:
        raise InvalidInput(f"choose at most {MAX_COLUMNS} columns", field="col")
    return tuple(chosen)


def _key_columns(cols: Sequence[str]) -> list[Column]:
    out = []
    for col in cols:
        prefix, _, key = col.partition(".")
        kind: Kind = "param" if prefix == "params" else "metric"
        out.append(Column(kind, key, key, numeric=kind == "metric"))
    return out


def _sorted(columns: Sequence[Column], state: TableState) -> list[Column]:
    """Each column with the URL its header links to and its ``aria-sort``."""
    current = parse_order_by([state.order], RUNS)[0] if state.order else None
    out = []
    for column in columns:
        if not column.sortable:
            out.append(column)
            continue
        active = (
            current is not None
            and current.identifier.kind == column.kind
            and current.identifier.key == column.key
        )
        if active and current is not None:
            descending = not current.descending
            sort = "descending" if current.descending else "ascending"
        else:
            descending = column.kind == "metric" or column.key == "start_time"
            sort = "none"
        order = f"{identifier(column.kind, column.key)} {'DESC' if descending else 'ASC'}"
        out.append(replace(column, sort_url=state.url(order=order, page=1), sort=sort))
    return out


@dataclass
class TableData:
    keys: _keys.ExperimentKeys
    total: int = 0
    runs: list[Run] = field(default_factory=list)
    more: bool = False


def _read_table(
    session: Session, project: str, experiment_id: str, state: TableState
) -> tuple[TableData, tuple[str, ...]]:
    """Keys, then the count and the page, in one transaction (so they agree)."""
    keys = _keys.experiment_keys(session, project, experiment_id)
    cols = state.cols
    if cols is None:
        cols = tuple(f"metrics.{k}" for k in keys.metrics[:DEFAULT_METRICS]) + tuple(
            f"params.{k}" for k in keys.params[:DEFAULT_PARAMS]
        )
    data = TableData(keys)
    columns = _key_columns(cols)
    data.total = _keys.count_runs(session, project, [experiment_id], filter_string=state.filter)
    data.runs, data.more = _keys.run_table_page(
        session,
        project,
        [experiment_id],
        filter_string=state.filter,
        order_by=[state.order] if state.order else [],
        offset=state.offset,
        max_results=state.size,
        params=[c.key for c in columns if c.kind == "param"],
        metrics=[c.key for c in columns if c.kind == "metric"],
    )
    return data, cols


@router.get("/experiments")
def experiments(
    request: Request,
    db: DbDep,
    viewing: Reader,
    filter: Annotated[str, Query(max_length=5000)] = "",
    page_token: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    from kiln.tracking import _search

    found: list[Experiment] = []
    token: str | None = None
    problem = ""
    try:
        found, token = db.read(
            _search.search_experiments,
            viewing.project,
            filter_string=filter,
            max_results=EXPERIMENTS_PER_PAGE,
            page_token=page_token,
        )
    except InvalidInput as error:
        if error.field not in ("filter", "page_token"):
            raise
        problem = error.message
    stats = db.read(_keys.experiment_run_stats, viewing.project, [e.id for e in found])
    query = {"filter": filter} if filter else {}
    return render(
        request,
        "experiments.html",
        viewing,
        status_code=400 if problem else 200,
        title="Experiments",
        filter=filter,
        problem=problem,
        experiments=found,
        stats=stats,
        next_url=f"/experiments?{urlencode({**query, 'page_token': token})}" if token else "",
        first_url=f"/experiments?{urlencode(query)}" if page_token else "",
    )


@router.get("/experiments/{experiment_id}")
def experiment(
    request: Request,
    db: DbDep,
    viewing: Reader,
    experiment_id: str,
    filter: Annotated[str, Query(max_length=10_000)] = "",
    order: Annotated[str, Query(max_length=600)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query()] = PAGE_SIZES[0],
    col: Annotated[list[str] | None, Query()] = None,
) -> Response:
    if size not in PAGE_SIZES:
        raise InvalidInput(
            f"size must be one of {', '.join(map(str, PAGE_SIZES))}, got {size}", field="size"
        )
    project = viewing.project
    shown = db.read(_experiments.get_experiment, project, experiment_id)
    state = TableState(
        f"/experiments/{shown.id}",
        filter=filter,
        order=order.strip(),
        page=page,
        size=size,
        cols=None if col is None else parse_columns(col),
    )
    problem = ""
    try:
        data, cols = db.read(_read_table, project, shown.id, state)
        attributes = _sorted(ATTRIBUTES, state)
        columns = _sorted(_key_columns(cols), state)
    except InvalidInput as error:
        if error.field not in ("filter", "order_by"):
            raise
        problem = error.message
        data = TableData(db.read(_keys.experiment_keys, project, shown.id))
        cols = state.cols or ()
        attributes, columns = list(ATTRIBUTES), _key_columns(cols)
    chosen = set(cols)
    first = state.offset + 1
    last = state.offset + len(data.runs)
    summary = (
        f"Runs {first:,} to {last:,} of {data.total:,}" if data.runs else f"{data.total:,} runs"
    ) + f" · page {state.page:,} of {max(1, -(-data.total // state.size)):,}"
    return render(
        request,
        "runs_table.html" if request.headers.get("x-kiln-partial") == "1" else "experiment.html",
        viewing,
        status_code=400 if problem else 200,
        title=shown.name,
        experiment=shown,
        tags=sorted((k, v) for k, v in shown.tags.items() if not k.startswith("mlflow.")),
        state=state,
        problem=problem,
        attributes=attributes,
        columns=columns,
        runs=data.runs,
        total=data.total,
        summary=summary,
        previous_url=state.url(page=state.page - 1) if state.page > 1 else "",
        next_url=state.url(page=state.page + 1) if data.more else "",
        sizes=[(n, state.url(size=n, page=1)) for n in PAGE_SIZES],
        keys=data.keys,
        chooser={
            kind: sorted(
                set(found) | {c.split(".", 1)[1] for c in cols if c.startswith(kind + ".")}
            )
            for kind, found in (("params", data.keys.params), ("metrics", data.keys.metrics))
        },
        chosen=chosen,
        clear_url=state.url(filter="", page=1),
    )
