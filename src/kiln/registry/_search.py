"""Searching registered models and model versions with tracking's filter language.

The grammar is the one of ``search_runs`` (see ``kiln.tracking._search``); only
the identifiers differ, and they are MLflow's::

    registered models:  name, creation_timestamp, last_updated_timestamp, tags.<key>
    model versions:     name, version (version_number), run_id, source (source_path),
                        flavor, status, user_id (created_by), creation_timestamp,
                        last_updated_timestamp, tags.<key>

    name ILIKE '%fraud%' and tags.team = 'risk'
    name = 'fraud' and version >= 3 and run_id IN ('a1…', 'b2…')

Text compares with ``= != LIKE ILIKE IN NOT IN`` (``LIKE`` case-sensitive and
``ILIKE`` not, identically on SQLite and PostgreSQL); numbers and times with
``= != < <= > >= IN NOT IN``; times are milliseconds since the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from kiln.auth import project_id
from kiln.db.tables import (
    ModelVersionRow,
    ModelVersionTagRow,
    RegisteredModelRow,
    RegisteredModelTagRow,
)
from kiln.registry._entities import ModelVersion, RegisteredModel
from kiln.registry._rows import load_models, load_versions
from kiln.tracking._search import _check_max_results, _fingerprint, _offset, _token
from kiln.tracking._search_parse import (
    Comparison,
    Kind,
    Node,
    OrderTerm,
    Schema,
    parse_filter,
    parse_order_by,
)
from kiln.tracking._search_sql import _compile, _direction, _missing_last, _sortable, _test
from kiln.tracking._search_sql import _time_test as time_test

DEFAULT_MAX_RESULTS = 100
_PREFIXES: dict[str, Kind] = {
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "tags": "tag",
    "tag": "tag",
}

MODELS = Schema(
    noun="registered model",
    prefixes=_PREFIXES,
    attributes={
        "name": ("name", "string"),
        "creation_timestamp": ("created_at", "time"),
        "creation_time": ("created_at", "time"),
        "last_updated_timestamp": ("updated_at", "time"),
        "last_update_time": ("updated_at", "time"),
    },
)

VERSIONS = Schema(
    noun="model version",
    prefixes=_PREFIXES,
    attributes={
        "name": ("name", "string"),
        "version": ("version", "number"),
        "version_number": ("version", "number"),
        "run_id": ("run_id", "string"),
        "source": ("source", "string"),
        "source_path": ("source", "string"),
        "flavor": ("flavor", "string"),
        "status": ("status", "string"),
        "user_id": ("created_by", "string"),
        "created_by": ("created_by", "string"),
        "creation_timestamp": ("created_at", "time"),
        "creation_time": ("created_at", "time"),
        "last_updated_timestamp": ("updated_at", "time"),
        "last_update_time": ("updated_at", "time"),
    },
)

_MODEL_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "name": RegisteredModelRow.name,
    "created_at": RegisteredModelRow.created_at,
    "updated_at": RegisteredModelRow.updated_at,
}
_VERSION_COLUMNS: dict[str, Any] = {
    "name": RegisteredModelRow.name,
    "version": ModelVersionRow.version,
    "run_id": ModelVersionRow.run_id,
    "source": ModelVersionRow.source,
    "flavor": ModelVersionRow.flavor,
    "status": ModelVersionRow.status,
    "created_by": ModelVersionRow.created_by,
    "created_at": ModelVersionRow.created_at,
    "updated_at": ModelVersionRow.updated_at,
}
_TIMES = frozenset({"created_at", "updated_at"})


def _leaf(
    columns: dict[str, Any], tag: Callable[[Comparison], ColumnElement[bool]], dialect: str
) -> Callable[[Comparison], ColumnElement[bool]]:
    def leaf(comparison: Comparison) -> ColumnElement[bool]:
        identifier = comparison.identifier
        if identifier.kind == "tag":
            return tag(comparison)
        column = columns[identifier.key]
        if identifier.key in _TIMES:
            return time_test(column, comparison.operator, comparison.value)
        return _test(column, comparison, dialect)

    return leaf


def _order(
    query: Select[Any],
    terms: Sequence[OrderTerm],
    columns: dict[str, Any],
    tag_table: Any,
    owner: Any,
    dialect: str,
) -> Select[Any]:
    clauses: list[Any] = []
    for index, term in enumerate(terms):
        if term.identifier.kind == "attribute":
            column = columns[term.identifier.key]
            clauses.append(_direction(_sortable(column, dialect), term.descending))
            continue
        tag = aliased(tag_table, name=f"order_{index}")
        owner_column = tag.model_id if tag_table is RegisteredModelTagRow else tag.version_id
        query = query.outerjoin(tag, and_(owner_column == owner.id, tag.key == term.identifier.key))
        clauses += _missing_last(
            owner_column.is_(None), _sortable(tag.value, dialect), term.descending
        )
    clauses.append(owner.id.asc())
    return query.order_by(*clauses)


def search_registered_models(
    session: Session,
    project: str,
    *,
    filter_string: str = "",
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> tuple[list[RegisteredModel], str | None]:
    """One page of the project's registered models matching ``filter_string``.

    Ordered by ``order_by`` (default ``name ASC``), then by id; the token of the
    next page is None on the last page.
    """
    node: Node | None = parse_filter(filter_string, MODELS)
    terms = parse_order_by(order_by, MODELS) or parse_order_by(["name"], MODELS)
    _check_max_results(max_results)
    fingerprint = _fingerprint("registered_models", project, [], node, terms, "")
    offset = _offset(page_token, fingerprint)
    dialect = session.get_bind().dialect.name

    def tag_leaf(comparison: Comparison) -> ColumnElement[bool]:
        rows = select(RegisteredModelTagRow.model_id).where(
            RegisteredModelTagRow.key == comparison.identifier.key,
            _test(RegisteredModelTagRow.value, comparison, dialect),
        )
        return RegisteredModelRow.id.in_(rows)

    query = select(RegisteredModelRow).where(
        RegisteredModelRow.project_id == project_id(session, project)
    )
    if node is not None:
        query = query.where(_compile(node, _leaf(dict(_MODEL_COLUMNS), tag_leaf, dialect)))
    query = _order(
        query, terms, dict(_MODEL_COLUMNS), RegisteredModelTagRow, RegisteredModelRow, dialect
    )
    rows = list(session.scalars(query.offset(offset).limit(max_results + 1)))
    more = len(rows) > max_results
    models = load_models(session, project, rows[:max_results])
    return models, _token(offset + max_results, fingerprint) if more else None


def search_model_versions(
    session: Session,
    project: str,
    *,
    filter_string: str = "",
    order_by: Sequence[str] = (),
    max_results: int = DEFAULT_MAX_RESULTS,
    page_token: str | None = None,
) -> tuple[list[ModelVersion], str | None]:
    """One page of the project's model versions matching ``filter_string``.

    Ordered by ``order_by`` (default ``name ASC, version DESC``), then by id.
    """
    node = parse_filter(filter_string, VERSIONS)
    terms = parse_order_by(order_by, VERSIONS) or parse_order_by(["name", "version DESC"], VERSIONS)
    _check_max_results(max_results)
    fingerprint = _fingerprint("model_versions", project, [], node, terms, "")
    offset = _offset(page_token, fingerprint)
    dialect = session.get_bind().dialect.name

    def tag_leaf(comparison: Comparison) -> ColumnElement[bool]:
        rows = select(ModelVersionTagRow.version_id).where(
            ModelVersionTagRow.key == comparison.identifier.key,
            _test(ModelVersionTagRow.value, comparison, dialect),
        )
        return ModelVersionRow.id.in_(rows)

    query = (
        select(ModelVersionRow)
        .join(RegisteredModelRow, RegisteredModelRow.id == ModelVersionRow.model_id)
        .where(RegisteredModelRow.project_id == project_id(session, project))
    )
    if node is not None:
        query = query.where(_compile(node, _leaf(_VERSION_COLUMNS, tag_leaf, dialect)))
    query = _order(query, terms, _VERSION_COLUMNS, ModelVersionTagRow, ModelVersionRow, dialect)
    rows = list(session.scalars(query.offset(offset).limit(max_results + 1)))
    more = len(rows) > max_results
    versions = load_versions(session, rows[:max_results])
    return versions, _token(offset + max_results, fingerprint) if more else None
