"""The search AST compiled to SQLAlchemy expressions, the same results on both dialects.

Each comparison on a key (param, tag, latest metric, dataset input) becomes
``runs.id IN (SELECT run_id FROM <table> WHERE key = … AND <value test>)``:
it reads the ``(key, value)`` indexes, and ``and``/``or``/parentheses map
straight onto SQL. Where SQLite and PostgreSQL disagree the SQL differs so
that the results do not:

- ``LIKE`` is case-sensitive: PostgreSQL's own ``LIKE``; SQLite's ``GLOB`` with
  the pattern translated (SQLite's ``LIKE`` ignores ASCII case).
- ``ILIKE`` folds ASCII letters only, on both (SQLite's ``lower()`` does no
  more, so PostgreSQL uses ``translate()`` rather than its Unicode ``ILIKE``).
- Text sorts by code point: ``COLLATE "C"`` on PostgreSQL, SQLite's default
  ``BINARY`` collation.
- Missing keys and NaN metrics sort last whichever the direction, with a
  ``CASE`` flag instead of dialect-specific ``NULLS LAST``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    case,
    collate,
    false,
    func,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, aliased

from kiln.db.tables import (
    DatasetRow,
    ExperimentRow,
    ExperimentTagRow,
    LatestMetricRow,
    ParamRow,
    RunInputRow,
    RunRow,
    RunTagRow,
)
from kiln.tracking._names import MAX_KEY_LENGTH
from kiln.tracking._search_parse import And, Comparison, Node, Or, OrderTerm, Value

_COMPARE: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()
_TO_LOWER = str.maketrans(_UPPER, _LOWER)

_RUN_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "run_id": RunRow.id,
    "run_name": RunRow.name,
    "status": RunRow.status,
    "user": RunRow.user,
    "lifecycle_stage": RunRow.lifecycle_stage,
    "parent_run_id": RunRow.parent_run_id,
    "experiment_id": RunRow.experiment_id,
    "start_time": RunRow.start_time,
    "end_time": RunRow.end_time,
}
_NULLABLE_RUN_COLUMNS = frozenset({"parent_run_id", "end_time"})
_EXPERIMENT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": ExperimentRow.name,
    "experiment_id": ExperimentRow.id,
    "lifecycle_stage": ExperimentRow.lifecycle_stage,
    "creation_time": ExperimentRow.created_at,
    "last_update_time": ExperimentRow.updated_at,
}
_TIMES = frozenset({"creation_time", "last_update_time"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MS = math.floor((datetime(1, 1, 2, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)
_MAX_MS = math.floor((datetime(9999, 12, 30, tzinfo=UTC) - _EPOCH).total_seconds() * 1000)


# --- value tests shared by every kind of field ---------------------------------------


def _pattern(pattern: str) -> list[tuple[bool, str]]:
    """A LIKE pattern as (is_wildcard, character) pairs; ``\\`` makes the next character literal."""
    parts, chars = [], iter(pattern)
    for char in chars:
        if char == "\\":
            parts.append((False, next(chars, "\\")))
        else:
            parts.append((char in "%_", char))
    return parts


def _like_text(parts: list[tuple[bool, str]]) -> str:
    return "".join(c if wild or c not in "%_\\" else "\\" + c for wild, c in parts)


def _glob_text(parts: list[tuple[bool, str]]) -> str:
    globbed = {"*": "[*]", "?": "[?]", "[": "[[]"}
    return "".join(("*" if c == "%" else "?") if wild else globbed.get(c, c) for wild, c in parts)


def _compare(column: Any, op: str, value: Value, dialect: str) -> ColumnElement[bool]:
    if op not in ("LIKE", "ILIKE"):
        return _COMPARE[op](column, value)
    parts = _pattern(str(value))
    if op == "LIKE":
        if dialect == "sqlite":
            return column.op("GLOB", is_comparison=True)(_glob_text(parts))  # type: ignore[no-any-return]
        return column.like(_like_text(parts), escape="\\")  # type: ignore[no-any-return]
    folded = _like_text(parts).translate(_TO_LOWER)
    if dialect == "sqlite":
        return func.lower(column).like(folded, escape="\\")
    return func.translate(column, _UPPER, _LOWER).like(folded, escape="\\")


def _test(column: Any, comparison: Comparison, dialect: str) -> ColumnElement[bool]:
    """``column <op> value`` for one comparison (``IN`` lists included)."""
    op, value = comparison.operator, comparison.value
    if op == "IN":
        assert isinstance(value, tuple)
        return column.in_(value)  # type: ignore[no-any-return]
    if op == "NOT IN":
        assert isinstance(value, tuple)
        return column.not_in(value)  # type: ignore[no-any-return]
    assert not isinstance(value, tuple)
    return _compare(column, op, value, dialect)


def _prefix_test(column: Any, comparison: Comparison) -> list[ColumnElement[bool]]:
    """The extra ``value_prefix`` test that lets ``=`` and ``IN`` use the (key, value) index."""
    value = comparison.value
    if comparison.operator == "=" and isinstance(value, str):
        return [column == value[:MAX_KEY_LENGTH]]
    if comparison.operator == "IN" and isinstance(value, tuple):
        return [column.in_(sorted({str(v)[:MAX_KEY_LENGTH] for v in value}))]
    return []


def _compile(node: Node, leaf: Callable[[Comparison], ColumnElement[bool]]) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_compile(operand, leaf) for operand in node.operands))
    if isinstance(node, Or):
        return or_(*(_compile(operand, leaf) for operand in node.operands))
    return leaf(node)


def _sortable(column: Any, dialect: str) -> Any:
    """Text sorts by code point on both dialects."""
    if dialect == "postgresql" and isinstance(column.type, String):
        return collate(column, "C")
    return column


def _direction(column: Any, descending: bool) -> Any:
    return column.desc() if descending else column.asc()


def _missing_last(missing: ColumnElement[bool], value: Any, descending: bool) -> list[Any]:
    """Rows where ``missing`` holds go last in both directions, in tie-break order."""
    return [
        case((missing, 1), else_=0),
        _direction(case((missing, null()), else_=value), descending),
    ]


# --- runs ---------------------------------------------------------------------------


def run_condition(node: Node, dialect: str) -> ColumnElement[bool]:
    """The WHERE clause over ``RunRow`` for a filter's AST."""
    return _compile(node, lambda comparison: _run_leaf(comparison, dialect))


def _run_leaf(comparison: Comparison, dialect: str) -> ColumnElement[bool]:
    identifier = comparison.identifier
    key = identifier.key
    if identifier.kind == "attribute":
        return _test(_RUN_COLUMNS[key], comparison, dialect)
    if identifier.kind == "metric":
        rows = select(LatestMetricRow.run_id).where(
            LatestMetricRow.key == key,
            LatestMetricRow.is_nan.is_(false()),
            _test(LatestMetricRow.value, comparison, dialect),
        )
    elif identifier.kind == "param":
        rows = select(ParamRow.run_id).where(
            ParamRow.key == key,
            *_prefix_test(ParamRow.value_prefix, comparison),
            _test(ParamRow.value, comparison, dialect),
        )
    elif identifier.kind == "tag":
        rows = select(RunTagRow.run_id).where(
            RunTagRow.key == key,
            *_prefix_test(RunTagRow.value_prefix, comparison),
            _test(RunTagRow.value, comparison, dialect),
        )
    else:
        column = RunInputRow.context if key == "context" else getattr(DatasetRow, key)
        rows = (
            select(RunInputRow.run_id)
            .join(DatasetRow, DatasetRow.id == RunInputRow.dataset_id)
            .where(_test(column, comparison, dialect))
        )
    return RunRow.id.in_(rows)


def order_runs(query: Select[Any], terms: Sequence[OrderTerm], dialect: str) -> Select[Any]:
    """``query`` (over ``RunRow``) sorted by ``terms``, then start_time DESC, then run id."""
    clauses: list[Any] = []
    for index, term in enumerate(terms):
        identifier, descending = term.identifier, term.descending
        if identifier.kind == "attribute":
            column = _RUN_COLUMNS[identifier.key]
            if identifier.key in _NULLABLE_RUN_COLUMNS:
                clauses += _missing_last(column.is_(None), _sortable(column, dialect), descending)
            else:
                clauses.append(_direction(_sortable(column, dialect), descending))
            continue
        if identifier.kind == "metric":
            metric = aliased(LatestMetricRow, name=f"order_{index}")
            query = query.outerjoin(
                metric, and_(metric.run_id == RunRow.id, metric.key == identifier.key)
            )
            missing = or_(metric.run_id.is_(None), metric.is_nan.is_(true()))
            clauses += _missing_last(missing, metric.value, descending)
            continue
        row: Any = aliased(
            ParamRow if identifier.kind == "param" else RunTagRow, name=f"order_{index}"
        )
        query = query.outerjoin(row, and_(row.run_id == RunRow.id, row.key == identifier.key))
        clauses += _missing_last(row.run_id.is_(None), _sortable(row.value, dialect), descending)
    clauses += [RunRow.start_time.desc(), _sortable(RunRow.id, dialect).asc()]
    return query.order_by(*clauses)


# --- experiments --------------------------------------------------------------------


def _ms(value: float) -> datetime:
    clamped = min(max(value, _MIN_MS), _MAX_MS)
    return _EPOCH + timedelta(milliseconds=clamped)


def _time_test(column: Any, op: str, value: Value | tuple[Value, ...]) -> ColumnElement[bool]:
    """A millisecond comparison against a datetime column, as if it held whole milliseconds.

    A row created at 12.3456 s has creation_time 12345 (truncated), so
    ``creation_time = 12345`` is the half-open range [12.345 s, 12.346 s).
    """
    if isinstance(value, tuple):
        equal = or_(*(_time_test(column, "=", v) for v in value))
        return equal if op == "IN" else not_(equal)
    number = float(value)
    if not math.isfinite(number):
        number = _MAX_MS if number > 0 else _MIN_MS
    low, high = math.floor(number), math.ceil(number)
    if op == "<":
        return column < _ms(high)  # type: ignore[no-any-return]
    if op == "<=":
        return column < _ms(low + 1)  # type: ignore[no-any-return]
    if op == ">":
        return column >= _ms(low + 1)  # type: ignore[no-any-return]
    if op == ">=":
        return column >= _ms(high)  # type: ignore[no-any-return]
    equal = and_(column >= _ms(low), column < _ms(low + 1)) if low == high else false()
    return equal if op == "=" else not_(equal)


def experiment_condition(node: Node, dialect: str) -> ColumnElement[bool]:
    """The WHERE clause over ``ExperimentRow`` for a filter's AST."""
    return _compile(node, lambda comparison: _experiment_leaf(comparison, dialect))


def _experiment_leaf(comparison: Comparison, dialect: str) -> ColumnElement[bool]:
    identifier = comparison.identifier
    if identifier.kind == "tag":
        rows = select(ExperimentTagRow.experiment_id).where(
            ExperimentTagRow.key == identifier.key,
            _test(ExperimentTagRow.value, comparison, dialect),
        )
        return ExperimentRow.id.in_(rows)
    column = _EXPERIMENT_COLUMNS[identifier.key]
    if identifier.key in _TIMES:
        return _time_test(column, comparison.operator, comparison.value)
    return _test(column, comparison, dialect)


def order_experiments(query: Select[Any], terms: Sequence[OrderTerm], dialect: str) -> Select[Any]:
    """``query`` (over ``ExperimentRow``) sorted by ``terms``, then experiment id."""
    clauses: list[Any] = []
    for index, term in enumerate(terms):
        identifier, descending = term.identifier, term.descending
        if identifier.kind == "attribute":
            column = _EXPERIMENT_COLUMNS[identifier.key]
            clauses.append(_direction(_sortable(column, dialect), descending))
            continue
        tag = aliased(ExperimentTagRow, name=f"order_{index}")
        query = query.outerjoin(
            tag, and_(tag.experiment_id == ExperimentRow.id, tag.key == identifier.key)
        )
        clauses += _missing_last(
            tag.experiment_id.is_(None), _sortable(tag.value, dialect), descending
        )
    clauses.append(ExperimentRow.id.asc())
    return query.order_by(*clauses)
