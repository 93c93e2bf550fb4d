"""Alert rules: a condition on one metric of a monitor, its sinks, and a pipeline to run.

::

    parse_condition("drift.share > 0.3") ──► ("drift.share", ">", 0.3)
    create_rule / list_rules / get_rule / set_rule_enabled / delete_rule
      services on a Session; every field checked (InvalidInput names it), each
      sink spec built once (sink_from_spec) so a bad one is refused here
    ──► AlertRule (plain record; ``to_dict`` hides header values)

A metric name is what ``window_metrics`` writes for a window
(``drift.share``, ``drift.<column>.statistic``, ``performance.f1``,
``fairness.<attribute>.demographic_parity_difference``, …); the list is in
docs/monitoring-alerts.md. Evaluation lives in ``_rule_evaluation.py``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.alerts._alerts import SEVERITIES
from kiln.db.tables import AlertRuleRow
from kiln.errors import AlreadyExists, InvalidInput, NotFound
from kiln.monitoring._monitors import monitor_row
from kiln.monitoring._names import check_name
from kiln.pipelines._schedules import TARGET

__all__ = [
    "METRIC_FAMILIES",
    "OPERATORS",
    "RESERVED_PARAMS",
    "AlertRule",
    "create_rule",
    "delete_rule",
    "get_rule",
    "list_rules",
    "parse_condition",
    "rule_rows",
    "set_rule_enabled",
]

OPERATORS = (">", ">=", "<", "<=")
#: The first word of every metric a window has (``_window.window_metrics``).
METRIC_FAMILIES = (
    "drift",
    "fairness",
    "outliers",
    "performance",
    "prediction_drift",
    "quality",
    "rows",
)
#: Parameters a triggered pipeline receives from the alert; a rule may not set them.
RESERVED_PARAMS = ("alert_id", "monitor", "rule")
#: At most this many sinks per rule.
MAX_SINKS = 20

_WORD = r"[A-Za-z0-9_\-]+"
_METRIC = re.compile(rf"{_WORD}(?:\.{_WORD})*")
_CONDITION = re.compile(
    rf"\s*(?P<metric>{_WORD}(?:\.{_WORD})*)\s*(?P<operator>>=|<=|>|<)\s*(?P<threshold>\S+)\s*"
)
_COMPARE = {
    ">": lambda value, threshold: value > threshold,
    ">=": lambda value, threshold: value >= threshold,
    "<": lambda value, threshold: value < threshold,
    "<=": lambda value, threshold: value <= threshold,
}


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A rule of a monitor: fire when ``metric operator threshold`` holds for a window."""

    id: int
    project: str
    monitor: str
    name: str
    metric: str
    operator: str
    threshold: float
    severity: str
    sinks: tuple[dict[str, Any], ...]
    pipeline: str | None
    pipeline_params: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    created_at: datetime | None = None
    #: The end of the newest window this rule fired on; older and equal windows never fire it.
    last_fired_window: datetime | None = None

    @property
    def condition(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        """Whether ``value`` of the metric satisfies the condition."""
        return bool(_COMPARE[self.operator](value, self.threshold))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the sinks' header values hidden."""
        from kiln.monitoring._sinks import masked_spec

        return {
            "name": self.name,
            "monitor": self.monitor,
            "project": self.project,
            "condition": self.condition,
            "metric": self.metric,
            "operator": self.operator,
            "threshold": self.threshold,
            "severity": self.severity,
            "sinks": [masked_spec(spec) for spec in self.sinks],
            "pipeline": self.pipeline,
            "pipeline_params": self.pipeline_params,
            "enabled": self.enabled,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "last_fired_window": (
                self.last_fired_window.isoformat() if self.last_fired_window else None
            ),
        }


def _rule(row: AlertRuleRow, project: str, monitor: str) -> AlertRule:
    return AlertRule(
        id=row.id,
        project=project,
        monitor=monitor,
        name=row.name,
        metric=row.metric,
        operator=row.operator,
        threshold=row.threshold,
        severity=row.severity,
        sinks=tuple(json.loads(row.sinks or "[]")),
        pipeline=row.pipeline,
        pipeline_params=json.loads(row.pipeline_params or "{}"),
        enabled=row.enabled,
        created_at=row.created_at,
        last_fired_window=row.last_fired_window,
    )


# --- validation ------------------------------------------------------------------


def check_rule_name(name: Any) -> str:
    return check_name(name, what="rule", field="name")


def check_metric(metric: Any) -> str:
    if not isinstance(metric, str) or len(metric) > 256 or not _METRIC.fullmatch(metric):
        raise InvalidInput(
            f"metric {metric!r} is not a metric name: dotted words of letters, digits, '_' and "
            "'-' (e.g. drift.share, drift.amount.statistic, performance.f1)",
            field="metric",
        )
    family = metric.split(".", 1)[0]
    if family not in METRIC_FAMILIES:
        raise InvalidInput(
            f"metric {metric!r} starts with {family!r}; metrics start with one of "
            f"{', '.join(METRIC_FAMILIES)} (docs/monitoring-alerts.md lists them)",
            field="metric",
        )
    return metric


def check_operator(operator: Any) -> str:
    if operator not in OPERATORS:
        raise InvalidInput(
            f"operator must be one of {', '.join(OPERATORS)}, got {operator!r}", field="operator"
        )
    return str(operator)


def check_threshold(threshold: Any) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidInput(f"threshold must be a number, got {threshold!r}", field="threshold")
    if not math.isfinite(threshold):
        raise InvalidInput(f"threshold must be finite, got {threshold!r}", field="threshold")
    return float(threshold)


def parse_condition(text: str) -> tuple[str, str, float]:
    """``"drift.share > 0.3"`` as ``(metric, operator, threshold)``; operators >, >=, <, <=."""
    found = _CONDITION.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            f"condition {text!r} is not 'metric operator number' (e.g. 'drift.share > 0.3', "
            "'performance.f1 <= 0.8')",
            field="condition",
        )
    try:
        threshold = float(found["threshold"])
    except ValueError:
        raise InvalidInput(
            f"the threshold of condition {text!r} is not a number: {found['threshold']!r}",
            field="condition",
        ) from None
    try:
        return check_metric(found["metric"]), found["operator"], check_threshold(threshold)
    except InvalidInput as error:
        raise InvalidInput(error.message, field="condition") from None


def _check_severity(severity: Any) -> str:
    if severity not in SEVERITIES:
        raise InvalidInput(
            f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}", field="severity"
        )
    return str(severity)


def _check_sinks(sinks: Any) -> list[dict[str, Any]]:
    from kiln.monitoring._sinks import sink_from_spec

    if isinstance(sinks, Mapping | str) or not isinstance(sinks, Sequence):
        raise InvalidInput(
            'sinks must be a list of sink specs (e.g. [{"kind": "log"}])', field="sinks"
        )
    if len(sinks) > MAX_SINKS:
        raise InvalidInput(f"a rule has at most {MAX_SINKS} sinks", field="sinks")
    checked = []
    for index, spec in enumerate(sinks):
        try:
            sink_from_spec(spec)
            checked.append(json.loads(json.dumps(dict(spec), allow_nan=False)))
        except InvalidInput as error:
            where = f"sinks[{index}]" + (f".{error.field}" if error.field else "")
            raise InvalidInput(f"sink {index}: {error.message}", field=where) from None
        except (TypeError, ValueError) as exc:
            raise InvalidInput(
                f"sink {index} is not JSON: {exc}", field=f"sinks[{index}]"
            ) from None
    return checked


def _check_pipeline(pipeline: Any, params: Any) -> tuple[str | None, str]:
    if pipeline is None:
        if params:
            raise InvalidInput("pipeline_params need a pipeline to run", field="pipeline_params")
        return None, "{}"
    if not isinstance(pipeline, str) or len(pipeline) > 1024 or not TARGET.fullmatch(pipeline):
        raise InvalidInput(
            f"pipeline {pipeline!r} is not module:function (e.g. flows:retrain), naming a "
            "pipeline importable from the folder the monitors are checked in",
            field="pipeline",
        )
    params = {} if params is None else params
    if not isinstance(params, Mapping) or not all(isinstance(key, str) for key in params):
        raise InvalidInput(
            f"pipeline_params must be a mapping of parameter names to values, got {params!r}",
            field="pipeline_params",
        )
    taken = sorted(set(params) & set(RESERVED_PARAMS))
    if taken:
        raise InvalidInput(
            f"pipeline_params may not set {', '.join(taken)}: the trigger passes "
            f"{', '.join(RESERVED_PARAMS)} from the alert",
            field="pipeline_params",
        )
    try:
        text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"pipeline_params must be JSON values (str, int, float, bool, None, lists and "
            f"dicts): {exc}",
            field="pipeline_params",
        ) from None
    return pipeline, text


# --- services ---------------------------------------------------------------------


def rule_rows(session: Session, project: str, monitor: str) -> list[AlertRuleRow]:
    owner = monitor_row(session, project, monitor)
    return list(
        session.scalars(
            select(AlertRuleRow)
            .where(AlertRuleRow.monitor_id == owner.id)
            .order_by(AlertRuleRow.name)
        )
    )


def _row(session: Session, project: str, monitor: str, name: str) -> AlertRuleRow:
    owner = monitor_row(session, project, monitor)
    row = session.scalars(
        select(AlertRuleRow).where(
            AlertRuleRow.monitor_id == owner.id, AlertRuleRow.name == check_rule_name(name)
        )
    ).first()
    if row is None:
        raise NotFound(
            f"monitor {monitor!r} has no alert rule {name!r}; `kiln monitor rules list "
            f"{monitor}` shows its rules"
        )
    return row


def create_rule(
    session: Session,
    project: str,
    monitor: str,
    name: str,
    *,
    metric: str,
    operator: str,
    threshold: float,
    severity: str = "warning",
    sinks: Sequence[Mapping[str, Any]] = (),
    pipeline: str | None = None,
    pipeline_params: Mapping[str, Any] | None = None,
    enabled: bool = True,
    replace: bool = False,
) -> AlertRule:
    """Record a rule of ``monitor``; ``AlreadyExists`` if it has one called ``name``.

    With ``replace`` an existing rule is changed in place, and keeps its
    ``last_fired_window``: the windows it fired on do not fire it again.
    """
    check_rule_name(name)
    values = {
        "metric": check_metric(metric),
        "operator": check_operator(operator),
        "threshold": check_threshold(threshold),
        "severity": _check_severity(severity),
        "sinks": json.dumps(_check_sinks(sinks), sort_keys=True),
    }
    values["pipeline"], values["pipeline_params"] = _check_pipeline(pipeline, pipeline_params)
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be true or false, got {enabled!r}", field="enabled")
    owner = monitor_row(session, project, monitor)
    row = session.scalars(
        select(AlertRuleRow).where(AlertRuleRow.monitor_id == owner.id, AlertRuleRow.name == name)
    ).first()
    if row is not None and not replace:
        raise AlreadyExists(
            f"monitor {monitor!r} has an alert rule {name!r}; pass replace=True (--replace) to "
            "change it",
            field="name",
        )
    if row is None:
        row = AlertRuleRow(monitor_id=owner.id, name=name)
        try:
            with session.begin_nested():
                _assign(row, values, enabled)
                session.add(row)
        except IntegrityError:
            raise AlreadyExists(
                f"monitor {monitor!r} got an alert rule {name!r} meanwhile; pass replace=True "
                "to change it",
                field="name",
            ) from None
    else:
        _assign(row, values, enabled)
        session.flush()
    return _rule(row, project, monitor)


def _assign(row: AlertRuleRow, values: dict[str, Any], enabled: bool) -> None:
    for key, value in values.items():
        setattr(row, key, value)
    row.enabled = enabled


def list_rules(session: Session, project: str, monitor: str) -> list[AlertRule]:
    """The rules of ``monitor``, by name."""
    return [_rule(row, project, monitor) for row in rule_rows(session, project, monitor)]


def get_rule(session: Session, project: str, monitor: str, name: str) -> AlertRule:
    return _rule(_row(session, project, monitor, name), project, monitor)


def set_rule_enabled(
    session: Session, project: str, monitor: str, name: str, enabled: bool
) -> AlertRule:
    """Turn a rule on or off; a disabled rule is skipped by evaluation."""
    if not isinstance(enabled, bool):
        raise InvalidInput(f"enabled must be true or false, got {enabled!r}", field="enabled")
    row = _row(session, project, monitor, name)
    row.enabled = enabled
    session.flush()
    return _rule(row, project, monitor)


def delete_rule(session: Session, project: str, monitor: str, name: str) -> None:
    """Delete a rule (the alerts it raised stay)."""
    session.delete(_row(session, project, monitor, name))
