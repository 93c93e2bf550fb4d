"""Gate checks as data: validating their JSON form, and results to and from JSON.

A gate is a list of checks; each is a JSON object with a ``type``::

    {"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.8}
    {"type": "beats_current", "metric": "auc", "direction": "max", "min_delta": 0.0}
    {"type": "callable", "callable": "package.module:function", "dataset": "val.parquet"}

``name`` is optional (a readable default is made from the fields) and unique
within a gate. Anything else is refused with ``InvalidInput`` naming the field
(``checks[0].op``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kiln.errors import InvalidInput
from kiln.registry._entities import BeatsCurrent, CallableCheck, Check, CheckResult, MetricThreshold
from kiln.tracking._names import check_key
from kiln.tracking._wire import decode_float, encode_float

MAX_CHECKS = 50
MAX_CHECK_NAME = 100
MAX_DETAIL = 2000
OPERATORS = (">", ">=", "<", "<=", "==", "!=")
DIRECTIONS = ("max", "min")
DATASET_SUFFIXES = (".parquet", ".pq", ".csv")
_CALLABLE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
_FIELDS: dict[str, dict[str, bool]] = {
    # type -> {field: required}
    MetricThreshold.type: {"metric": True, "op": True, "value": True},
    BeatsCurrent.type: {"metric": True, "direction": False, "min_delta": False},
    CallableCheck.type: {"callable": True, "dataset": True},
}


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{field} must be a finite number, got {value!r}", field=field)
    return float(value)


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty string, got {value!r}", field=field)
    return value


def _parse_one(item: Any, where: str) -> Check:
    if isinstance(item, MetricThreshold | BeatsCurrent | CallableCheck):
        item = check_to_json(item)
    if not isinstance(item, Mapping):
        raise InvalidInput(f"{where} must be a JSON object, got {item!r}", field=where)
    kind = item.get("type")
    if kind not in _FIELDS:
        raise InvalidInput(
            f"{where}.type must be one of {', '.join(_FIELDS)}, got {kind!r}", field=f"{where}.type"
        )
    fields = _FIELDS[kind]
    for key in item:
        if key not in fields and key not in ("name", "type"):
            raise InvalidInput(
                f"{where} has the unknown field {key!r}; a {kind} check takes "
                f"{', '.join(['name', 'type', *fields])}",
                field=f"{where}.{key}",
            )
    for key, required in fields.items():
        if required and key not in item:
            raise InvalidInput(f"{where} ({kind}) needs {key!r}", field=f"{where}.{key}")
    name = item.get("name")
    if name is not None:
        name = _text(name, f"{where}.name")
        if len(name) > MAX_CHECK_NAME or not name.isprintable():
            raise InvalidInput(
                f"{where}.name must be printable and at most {MAX_CHECK_NAME} characters",
                field=f"{where}.name",
            )
    if kind == MetricThreshold.type:
        metric = check_key(item["metric"], what="metric", field=f"{where}.metric")
        op = item["op"]
        if op not in OPERATORS:
            raise InvalidInput(
                f"{where}.op must be one of {', '.join(OPERATORS)}, got {op!r}", field=f"{where}.op"
            )
        value = _number(item["value"], f"{where}.value")
        return MetricThreshold(name or f"{metric} {op} {value:g}", metric, op, value)
    if kind == BeatsCurrent.type:
        metric = check_key(item["metric"], what="metric", field=f"{where}.metric")
        direction = item.get("direction", "max")
        if direction not in DIRECTIONS:
            raise InvalidInput(
                f"{where}.direction must be 'max' or 'min', got {direction!r}",
                field=f"{where}.direction",
            )
        min_delta = _number(item.get("min_delta", 0.0), f"{where}.min_delta")
        if min_delta < 0:
            raise InvalidInput(
                f"{where}.min_delta must be 0 or more, got {min_delta!r}",
                field=f"{where}.min_delta",
            )
        return BeatsCurrent(name or f"beats current on {metric}", metric, direction, min_delta)
    target = _text(item["callable"], f"{where}.callable")
    if not _CALLABLE.fullmatch(target):
        raise InvalidInput(
            f"{where}.callable must read 'package.module:function', got {target!r}",
            field=f"{where}.callable",
        )
    dataset = _text(item["dataset"], f"{where}.dataset")
    if not dataset.lower().endswith(DATASET_SUFFIXES):
        raise InvalidInput(
            f"{where}.dataset must be a Parquet or CSV file (a path or a runs:/<run_id>/<file> "
            f"artifact ending in {', '.join(DATASET_SUFFIXES)}), got {dataset!r}",
            field=f"{where}.dataset",
        )
    if dataset.startswith("runs:/"):
        from kiln.models import parse_runs_uri

        parse_runs_uri(dataset)
    return CallableCheck(name or target, target, dataset)


def parse_checks(items: Sequence[Mapping[str, Any] | Check]) -> tuple[Check, ...]:
    """Validated checks from their JSON form (or from check objects)."""
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise InvalidInput("checks must be a list of check objects", field="checks")
    if len(items) > MAX_CHECKS:
        raise InvalidInput(
            f"a gate holds at most {MAX_CHECKS} checks, got {len(items)}", field="checks"
        )
    checks = tuple(_parse_one(item, f"checks[{index}]") for index, item in enumerate(items))
    seen: set[str] = set()
    for index, check in enumerate(checks):
        if check.name in seen:
            raise InvalidInput(
                f"two checks are named {check.name!r}; give each a unique 'name'",
                field=f"checks[{index}].name",
            )
        seen.add(check.name)
    return checks


def check_to_json(check: Check) -> dict[str, Any]:
    if isinstance(check, MetricThreshold):
        fields: dict[str, Any] = {"metric": check.metric, "op": check.op, "value": check.value}
    elif isinstance(check, BeatsCurrent):
        fields = {
            "metric": check.metric,
            "direction": check.direction,
            "min_delta": check.min_delta,
        }
    else:
        fields = {"callable": check.callable, "dataset": check.dataset}
    return {"name": check.name, "type": check.type, **fields}


def checks_to_text(checks: Sequence[Check]) -> str:
    return json.dumps([check_to_json(c) for c in checks], separators=(",", ":"))


def checks_from_text(text: str) -> tuple[Check, ...]:
    return parse_checks(json.loads(text))


def result_to_json(result: CheckResult) -> dict[str, Any]:
    return {
        "name": result.name,
        "type": result.type,
        "passed": result.passed,
        "observed": None if result.observed is None else encode_float(result.observed),
        "detail": result.detail,
        "evaluated_by": result.evaluated_by,
    }


def result_from_json(data: Mapping[str, Any], *, where: str = "result") -> CheckResult:
    """A check result from JSON; malformed input is ``InvalidInput`` naming the field."""
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where} must be a JSON object", field=where)
    name, kind, passed = data.get("name"), data.get("type", ""), data.get("passed")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where}.name must be a non-empty string", field=f"{where}.name")
    if not isinstance(passed, bool):
        raise InvalidInput(f"{where}.passed must be true or false", field=f"{where}.passed")
    observed = data.get("observed")
    try:
        value = None if observed is None else decode_float(observed)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{where}.observed must be a number or null, got {observed!r}",
            field=f"{where}.observed",
        ) from None
    return CheckResult(
        name=name,
        type=str(kind),
        passed=passed,
        observed=value,
        detail=str(data.get("detail") or "")[:MAX_DETAIL],
        evaluated_by=str(data.get("evaluated_by") or "store"),
    )


def results_to_text(results: Sequence[CheckResult]) -> str:
    return json.dumps([result_to_json(r) for r in results], separators=(",", ":"))


def results_from_text(text: str) -> tuple[CheckResult, ...]:
    return tuple(result_from_json(item) for item in json.loads(text or "[]"))


def describe_failures(results: Sequence[CheckResult]) -> str:
    """``auc-floor (observed 0.71: auc 0.71 is not >= 0.8); …`` for error messages."""
    parts = []
    for result in results:
        if result.passed:
            continue
        parts.append(f"{result.name} ({result.detail})" if result.detail else result.name)
    return "; ".join(parts)
