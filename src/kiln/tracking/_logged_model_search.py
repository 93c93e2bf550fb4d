"""Searching MLflow 3 logged models: filter, datasets, order and pages, as MLflow's client asks.

MLflow's own client relies on the filter: ``runs:/<run>/<name>`` and
``register_model("runs:/…")`` look a model up with ``name = '<name>'``, and
``set_active_model(name=…)`` too, so ignoring it would pick the wrong model.
Filters use Kiln's search language (``_search_parse``) over MLflow's fields:
``name``, ``model_id``, ``model_type``, ``status``, ``source_run_id``,
``creation_timestamp`` (or ``creation_time``), ``last_updated_timestamp``,
``params.<k>``, ``tags.<k>`` and ``metrics.<k>`` (true when any linked point
matches, within ``datasets`` when given). Logged models are few per
experiment, so matching runs in Python over one load of the experiments' models.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from kiln.errors import InvalidInput
from kiln.tracking._logged_models import LoggedModel, ModelMetric, search_logged_models
from kiln.tracking._search_parse import (
    And,
    Comparison,
    Identifier,
    Node,
    Or,
    Schema,
    Value,
    parse_filter,
)

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 10_000

LOGGED_MODELS = Schema(
    noun="logged model",
    prefixes={
        "attributes": "attribute",
        "attribute": "attribute",
        "attr": "attribute",
        "tags": "tag",
        "tag": "tag",
        "params": "param",
        "param": "param",
        "metrics": "metric",
        "metric": "metric",
    },
    attributes={
        "name": ("name", "string"),
        "model_id": ("model_id", "string"),
        "model_type": ("model_type", "string"),
        "status": ("status", "string"),
        "source_run_id": ("source_run_id", "string"),
        "creation_timestamp": ("creation_timestamp", "number"),
        "creation_time": ("creation_timestamp", "number"),
        "last_updated_timestamp": ("last_updated_timestamp", "number"),
    },
)

#: Kiln's statuses under MLflow's names (what a filter compares against).
_STATUS_NAMES = {"UPLOAD_FAILED": "FAILED"}
_ORDER_ALIASES = {"creation_time": "creation_timestamp"}


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def _attribute(model: LoggedModel, name: str) -> Value | None:
    values: dict[str, Value | None] = {
        "name": model.name,
        "model_id": model.id,
        "model_type": model.model_type,
        "status": _STATUS_NAMES.get(model.status, model.status),
        "source_run_id": model.source_run_id,
        "creation_timestamp": _ms(model.created_at),
        "last_updated_timestamp": _ms(model.updated_at),
    }
    return values[name]


def _in(point: ModelMetric, datasets: Sequence[Mapping[str, str | None]]) -> bool:
    return not datasets or any(
        point.dataset_name == d.get("dataset_name")
        and (not d.get("dataset_digest") or point.dataset_digest == d.get("dataset_digest"))
        for d in datasets
    )


def _values(
    model: LoggedModel, identifier: Identifier, datasets: Sequence[Mapping[str, str | None]]
) -> list[Value]:
    kind, key = identifier.kind, identifier.key
    if kind == "attribute":
        value = _attribute(model, key)
        return [] if value is None else [value]
    if kind in ("param", "tag"):
        found = (model.params if kind == "param" else model.tags).get(key)
        return [] if found is None else [found]
    return [
        m.value
        for m in model.metrics
        if m.key == key and _in(m, datasets) and not math.isnan(m.value)
    ]


def _like(pattern: str, *, fold: bool) -> re.Pattern[str]:
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if fold else 0))


def _compare(value: Value, operator: str, wanted: Value | tuple[Value, ...]) -> bool:
    if operator in ("IN", "NOT IN"):
        inside = value in (wanted if isinstance(wanted, tuple) else (wanted,))
        return inside if operator == "IN" else not inside
    if operator in ("LIKE", "ILIKE"):
        return _like(str(wanted), fold=operator == "ILIKE").fullmatch(str(value)) is not None
    if isinstance(wanted, tuple):
        return False
    if isinstance(value, str) != isinstance(wanted, str):
        return False
    a: Any = value
    b: Any = wanted
    return bool(
        {
            "=": a == b,
            "!=": a != b,
            "<": a < b,
            "<=": a <= b,
            ">": a > b,
            ">=": a >= b,
        }[operator]
    )


def _matches(
    model: LoggedModel, node: Node | None, datasets: Sequence[Mapping[str, str | None]]
) -> bool:
    if node is None:
        return True
    if isinstance(node, And):
        return all(_matches(model, n, datasets) for n in node.operands)
    if isinstance(node, Or):
        return any(_matches(model, n, datasets) for n in node.operands)
    assert isinstance(node, Comparison)
    return any(
        _compare(v, node.operator, node.value) for v in _values(model, node.identifier, datasets)
    )


def _latest(model: LoggedModel, key: str, order: Mapping[str, Any]) -> float | None:
    points = [
        m
        for m in model.metrics
        if m.key == key
        and (not order.get("dataset_name") or m.dataset_name == order["dataset_name"])
        and (not order.get("dataset_digest") or m.dataset_digest == order["dataset_digest"])
    ]
    if not points:
        return None
    return max(points, key=lambda m: (m.timestamp, m.step)).value


def _sort_value(term: Mapping[str, Any]) -> Callable[[LoggedModel], Any]:
    field = _ORDER_ALIASES.get(term.get("field_name") or "", term.get("field_name") or "")
    if field.startswith("metrics."):
        key = field.removeprefix("metrics.")
        return lambda m: _latest(m, key, term)
    if field in LOGGED_MODELS.attributes:
        name = LOGGED_MODELS.attributes[field][0]
        return lambda m: _attribute(m, name)
    raise InvalidInput(
        f"cannot order logged models by {field!r}: use an attribute "
        f"({', '.join(sorted(LOGGED_MODELS.attributes))}) or metrics.<key>",
        field="order_by",
    )


def _sort(models: list[LoggedModel], order_by: Sequence[Mapping[str, Any]]) -> list[LoggedModel]:
    """MLflow's order: the given fields (missing values last), then newest first, then id."""
    terms = list(order_by)
    fields = {_ORDER_ALIASES.get(t.get("field_name", ""), t.get("field_name", "")) for t in terms}
    if "creation_timestamp" not in fields:
        terms.append({"field_name": "creation_timestamp", "ascending": False})
    if "model_id" not in fields:
        terms.append({"field_name": "model_id", "ascending": True})
    for term in reversed(terms):  # stable sorts, least significant first
        value = _sort_value(term)
        present = [m for m in models if value(m) is not None]
        missing = [m for m in models if value(m) is None]
        present.sort(key=value, reverse=not term.get("ascending", True))
        models = present + missing
    return models


def _fingerprint(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _offset(page_token: str | None, fingerprint: str) -> int:
    if not page_token:
        return 0
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        offset = data["offset"]
        if type(offset) is not int or offset < 0 or data["query"] != fingerprint:
            raise ValueError(offset)
        return offset
    except (AttributeError, UnicodeError, ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidInput(
            f"page_token {page_token[:40]!r} is not a token this search returned; "
            "start again without page_token",
            field="page_token",
        ) from None


def search_logged_models_page(
    session: Session,
    project: str,
    experiment_ids: Sequence[str],
    *,
    filter_string: str = "",
    datasets: Sequence[Mapping[str, str | None]] = (),
    order_by: Sequence[Mapping[str, Any]] = (),
    max_results: int | None = None,
    page_token: str | None = None,
) -> tuple[list[LoggedModel], str | None]:
    """One page of the experiments' models that match; and the next page's token, if any."""
    limit = max_results or DEFAULT_MAX_RESULTS
    if not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"max_results must be between 1 and {MAX_RESULTS}", field="max_results")
    if any(not d.get("dataset_name") for d in datasets):
        raise InvalidInput("each entry of datasets needs a dataset_name", field="datasets")
    node = parse_filter(filter_string or "", LOGGED_MODELS)
    fingerprint = _fingerprint(sorted(experiment_ids), filter_string, list(datasets), order_by)
    offset = _offset(page_token, fingerprint)
    models = [
        m
        for m in search_logged_models(session, project, experiment_ids)
        if _matches(m, node, datasets)
        and (not datasets or any(_in(p, datasets) for p in m.metrics))
    ]
    models = _sort(models, order_by)
    page = models[offset : offset + limit]
    token = None
    if offset + limit < len(models):
        data = json.dumps({"offset": offset + limit, "query": fingerprint}, separators=(",", ":"))
        token = base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")
    return page, token
