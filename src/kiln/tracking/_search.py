"""Searching runs and experiments: a filter language, ordering and page tokens.

The language is MLflow's ``search_runs`` syntax, extended with ``or`` and
parentheses, so the MLflow REST API can be served from it unchanged::

    metrics.auc > 0.8 and params.model = 'xgb'
    (tags.team = 'fraud' or tags.team = "risk") and status != 'FAILED'
    metrics.`train/loss` < 0.1 and params."learning rate" IN ('0.1', '0.01')
    datasets.name LIKE 'cards-%' and attributes.start_time >= 1700000000000

Grammar (keywords are case-insensitive; ``and`` binds tighter than ``or``)::

    filter      = disjunction
    disjunction = conjunction { "OR" conjunction }
    conjunction = primary { "AND" primary }
    primary     = "(" disjunction ")" | comparison
    comparison  = identifier operator value
                | identifier ["NOT"] "IN" "(" value { "," value } ")"
    operator    = "=" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "LIKE" | "ILIKE"
    identifier  = [prefix "."] name | prefix "." quoted
    prefix      = attributes | attribute | attr | params | param | metrics | metric
                | tags | tag | datasets | dataset
    name        = letter or "_", then letters, digits, "_", ".", "/", "-"
    quoted      = `…` | "…" | '…'          (a doubled quote stands for itself)
    value       = '…' | "…" | number        (number: -1, 0.5, 1e-3, +2)

A name without a prefix is an attribute. Run attributes: ``run_id`` (``id``),
``run_name`` (``name``), ``status``, ``user`` (``user_id``), ``lifecycle_stage``,
``parent_run_id``, ``experiment_id``, ``start_time`` (``created``), ``end_time``.
Dataset fields: ``name``, ``digest``, ``context``. Keys keep their case;
prefixes, attribute names and dataset fields do not care. A key after the
prefix's dot runs up to the next space or operator (``tags.mlflow.runName`` is
the tag ``mlflow.runName``); quote keys holding spaces or other characters.

Semantics:

- **Text** (params, tags, dataset fields, text attributes) takes ``=``, ``!=``,
  ``LIKE``, ``ILIKE``, ``IN`` and ``NOT IN``; the value must be quoted. ``<``
  and friends on text are refused: params and tags are strings (log a number as
  a metric to compare it numerically). ``=`` is case-sensitive.
- **LIKE** is case-sensitive and **ILIKE** ignores the case of ASCII letters,
  identically on SQLite and PostgreSQL (``É`` and ``é`` differ under both).
  ``%`` matches any run of characters, ``_`` one character, and ``\\`` makes the
  next character literal (``'50\\%'``).
- **Metrics** compare numerically with the run's latest value (highest step,
  then latest timestamp) using ``= != < <= > >= IN NOT IN``; comparing a metric
  with a quoted string is an error. A NaN latest value satisfies no
  comparison, ``!=`` included.
- **Missing keys never match.** A run without the param, tag or metric matches
  no comparison on it, ``!=`` and ``NOT IN`` included (as MLflow). The same holds
  for empty attributes: a run without a parent never matches ``parent_run_id !=
  '…'`` and a running run (no ``end_time``) no ``end_time`` comparison.
- **Numeric attributes** ``start_time`` and ``end_time`` are milliseconds since
  the epoch; ``experiment_id`` takes a number or a quoted number.
- **Datasets**: a run matches when any one of its dataset inputs matches. Two
  dataset comparisons joined by ``and`` may be met by two different inputs.
- **Experiments** filter on ``name``, ``experiment_id``, ``lifecycle_stage``,
  ``creation_time`` and ``last_update_time`` (milliseconds, compared as the
  truncated millisecond the API reports) and ``tags.<key>``.

Ordering: ``order_by`` entries are an identifier and ``ASC`` (default) or
``DESC``: ``"metrics.auc DESC"``, ``"params.lr"``, ``"start_time ASC"``.
Runs without the key, and NaN metrics, sort last in both directions. Text
sorts by code point. Ties break by ``start_time DESC`` then run id, so pages
are stable; the default order is just that. Experiments order by their
attributes or tags, default to ``last_update_time DESC`` and break ties by
experiment id (ascending).

Views: ``active_only`` (default), ``deleted_only`` or ``all``, in any case
(MLflow's ``ACTIVE_ONLY`` works). A run in a
deleted experiment counts as deleted, whatever its own lifecycle stage.

Paging: at most ``max_results`` (1 to 50,000; default 1,000) per call, and
``next_page_token`` while more remain. A token is bound to its query
(project, experiments, filter, order, view): reusing it with another query is
refused. Page size may change between pages. A token holds an offset, so runs
created or deleted between two calls shift the later pages by as many rows.

Limits: parentheses nest at most 50 deep, a filter holds at most 200
comparisons and 5,000 values (``IN`` lists included).

Errors are ``InvalidInput`` with ``field`` ``"filter"``, ``"order_by"``,
``"max_results"``, ``"page_token"`` or ``"run_view"``/``"view"``; a filter error
names the offending token and its position (characters counted from 0).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db.tables import ExperimentRow, ExperimentTagRow, RunRow
from kiln.errors import InvalidInput
from kiln.tracking._entities import Experiment, LifecycleStage, Run
from kiln.tracking._experiments import parse_experiment_id
from kiln.tracking._runs import load_runs
from kiln.tracking._search_parse import (
    EXPERIMENTS,
    RUNS,
    Node,
    OrderTerm,
    parse_filter,
    parse_order_by,
)
from kiln.tracking._search_sql import (
    experiment_condition,
    order_experiments,
    order_runs,
    run_condition,
)

__all__ = ["parse_filter", "parse_order_by", "runs_where", "search_experiments", "search_runs"]

DEFAULT_MAX_RESULTS = 1000
MAX_RESULTS = 50_000
_VIEWS = ("active_only", "deleted_only", "all")
_ACTIVE = LifecycleStage.ACTIVE.value
_DELETED = LifecycleStage.DELETED.value


def search_runs(
    session: Session,
    project: str,
    experiment_ids: Sequence[str | int] = (),
    *,
    filter_string: str = "",
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
    run_view: str = "active_only",
) -> tuple[list[Run], str | None]:
    """One page of the runs of ``project`` that match ``filter_string``, and the next page's token.

    ``experiment_ids`` restricts the search to those experiments (empty: all of
    the project's). The token is ``None`` on the last page.
    """
    node = parse_filter(filter_string, RUNS)
    terms = parse_order_by(order_by, RUNS)
    view = _view(run_view, "run_view")
    _check_max_results(max_results)
    if isinstance(experiment_ids, str | int):
        experiment_ids = [experiment_ids]
    ids = sorted({parse_experiment_id(experiment_id) for experiment_id in experiment_ids})
    fingerprint = _fingerprint("runs", project, ids, node, terms, view)
    offset = _offset(page_token, fingerprint)

    dialect = session.get_bind().dialect.name
    query = runs_where(session, project, ids, view, node, RunRow.id)
    query = order_runs(query, terms, dialect).offset(offset).limit(max_results + 1)
    run_ids = list(session.scalars(query))
    more = len(run_ids) > max_results
    runs = load_runs(session, run_ids[:max_results])
    return runs, _token(offset + max_results, fingerprint) if more else None


def runs_where(
    session: Session, project: str, ids: Sequence[int], view: str, node: Node | None, *columns: Any
) -> Select[Any]:
    """``SELECT columns`` over the project's runs in ``ids`` (all: empty) in ``view`` matching
    ``node``, unordered: the one definition of "the runs a search means"."""
    query = (
        select(*columns)
        .select_from(RunRow)
        .join(ExperimentRow, ExperimentRow.id == RunRow.experiment_id)
        .where(ExperimentRow.project_id == project_id(session, project))
    )
    if ids:
        query = query.where(RunRow.experiment_id.in_(ids))
    if view == "active_only":
        query = query.where(
            RunRow.lifecycle_stage == _ACTIVE, ExperimentRow.lifecycle_stage == _ACTIVE
        )
    elif view == "deleted_only":
        query = query.where(
            (RunRow.lifecycle_stage == _DELETED) | (ExperimentRow.lifecycle_stage == _DELETED)
        )
    if node is not None:
        query = query.where(run_condition(node, session.get_bind().dialect.name))
    return query


def search_experiments(
    session: Session,
    project: str,
    *,
    filter_string: str = "",
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
    view: str = "active_only",
) -> tuple[list[Experiment], str | None]:
    """One page of the experiments of ``project`` that match ``filter_string``.

    Ordered by ``order_by`` (default ``last_update_time DESC``), then by id.
    """
    node = parse_filter(filter_string, EXPERIMENTS)
    terms = parse_order_by(order_by, EXPERIMENTS) or parse_order_by(
        ["last_update_time DESC"], EXPERIMENTS
    )
    stage = _view(view, "view")
    _check_max_results(max_results)
    fingerprint = _fingerprint("experiments", project, [], node, terms, stage)
    offset = _offset(page_token, fingerprint)

    dialect = session.get_bind().dialect.name
    query = select(ExperimentRow).where(ExperimentRow.project_id == project_id(session, project))
    if stage != "all":
        wanted = _ACTIVE if stage == "active_only" else _DELETED
        query = query.where(ExperimentRow.lifecycle_stage == wanted)
    if node is not None:
        query = query.where(experiment_condition(node, dialect))
    query = order_experiments(query, terms, dialect).offset(offset).limit(max_results + 1)
    rows = list(session.scalars(query))
    more = len(rows) > max_results
    rows = rows[:max_results]
    tags: dict[int, dict[str, str]] = defaultdict(dict)
    if rows:
        for experiment_id, key, value in session.execute(
            select(
                ExperimentTagRow.experiment_id, ExperimentTagRow.key, ExperimentTagRow.value
            ).where(ExperimentTagRow.experiment_id.in_([row.id for row in rows]))
        ):
            tags[experiment_id][key] = value
    experiments = [
        Experiment(
            id=str(row.id),
            name=row.name,
            project=project,
            description=row.description,
            lifecycle_stage=LifecycleStage(row.lifecycle_stage),
            created_at=row.created_at,
            updated_at=row.updated_at,
            tags=tags.get(row.id, {}),
        )
        for row in rows
    ]
    return experiments, _token(offset + max_results, fingerprint) if more else None


def _view(value: str, field: str) -> str:
    view = value.lower() if isinstance(value, str) else ""
    if view not in _VIEWS:
        raise InvalidInput(f"{field} {value!r} is not one of {', '.join(_VIEWS)}", field=field)
    return view


def _check_max_results(max_results: int) -> None:
    if (
        not isinstance(max_results, int)
        or isinstance(max_results, bool)
        or not 1 <= max_results <= MAX_RESULTS
    ):
        raise InvalidInput(
            f"max_results must be a whole number from 1 to {MAX_RESULTS:,}, got {max_results!r}",
            field="max_results",
        )


def _fingerprint(
    what: str,
    project: str,
    experiment_ids: list[int],
    node: Node | None,
    terms: tuple[OrderTerm, ...],
    view: str,
) -> str:
    """A short hash of everything that defines a query's result list (not the page size)."""
    text = repr((what, project, experiment_ids, node, terms, view))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _token(offset: int, fingerprint: str) -> str:
    data = json.dumps({"offset": offset, "query": fingerprint}, separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _offset(page_token: str | None, fingerprint: str) -> int:
    if page_token is None or page_token == "":
        return 0
    if not isinstance(page_token, str):
        raise InvalidInput(f"page_token must be a string, got {page_token!r}", field="page_token")
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset, query = data["offset"], data["query"]
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise ValueError(offset)
    except (AttributeError, UnicodeError, ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidInput(
            f"page_token {page_token[:40]!r} is not a token this search returned; "
            "start again without page_token",
            field="page_token",
        ) from None
    if query != fingerprint:
        raise InvalidInput(
            "page_token belongs to another search (its filter, order, experiments or view "
            "differ): pass the token only with the query that returned it",
            field="page_token",
        )
    return offset
