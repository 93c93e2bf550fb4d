"""The evidence an alert carries: the few parts of a window's report behind its metric.

An alert has to say why without opening the report, yet it travels to chat
rooms and inboxes, so it keeps at most :data:`LIMIT` items of the one
section its metric comes from::

    drift.*             the drifted columns (the rule's column first): test, statistic,
                        p-value, threshold
    prediction_drift.*  the prediction column's test, statistic and threshold
    quality.*           the findings, worst first (the rule's column first)
    performance.*       the metrics (the rule's first) and how many rows had labels
    fairness.<attr>.*   that attribute's groups: count, selection rate, TPR, FPR, accuracy
    outliers.*          the columns with the largest outlier shares
    rows                nothing more than the value
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LIMIT", "window_evidence"]

#: Items of evidence kept per alert.
LIMIT = 10
_DRIFT_KEYS = ("test", "statistic", "p_value", "adjusted_p_value", "threshold", "drift")
_GROUP_KEYS = ("count", "selection_rate", "tpr", "fpr", "accuracy", "disparate_impact")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _section(report: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    found = report.get(name)
    return found if isinstance(found, Mapping) else {}


def _first(items: list[Any], wanted: Any, key: Any) -> list[Any]:
    return sorted(items, key=lambda item: key(item) != wanted)


def _drift(report: Mapping[str, Any], parts: list[str]) -> dict[str, Any]:
    columns = _section(_section(report, "drift"), "columns")
    column = parts[1] if len(parts) == 3 else None
    chosen: list[dict[str, Any]] = [
        {"column": name} | {key: found.get(key) for key in _DRIFT_KEYS if key in found}
        for name, found in columns.items()
        if isinstance(found, Mapping) and (found.get("drift") or name == column)
    ]
    chosen.sort(key=lambda item: -_number(item.get("statistic")))
    chosen = _first(chosen, column, lambda item: item["column"])
    return {"columns": chosen[:LIMIT], "drifted": sum(1 for item in chosen if item.get("drift"))}


def _prediction_drift(report: Mapping[str, Any]) -> dict[str, Any]:
    found = _section(report, "prediction_drift")
    return {key: found.get(key) for key in ("column", *_DRIFT_KEYS) if key in found}


def _quality(report: Mapping[str, Any], parts: list[str]) -> dict[str, Any]:
    findings = [f for f in _section(report, "quality").get("findings") or [] if isinstance(f, dict)]
    column = parts[1] if len(parts) == 3 else None
    ordered = _first(findings, column, lambda finding: finding.get("column"))
    return {"findings": ordered[:LIMIT], "total": len(findings)}


def _performance(report: Mapping[str, Any], parts: list[str]) -> dict[str, Any]:
    section = _section(report, "performance")
    metrics = section.get("metrics") or {}
    names = [name for name, value in metrics.items() if isinstance(value, int | float)]
    ordered = _first(names, parts[1] if len(parts) > 1 else None, lambda name: name)
    found: dict[str, Any] = {"metrics": {name: metrics[name] for name in ordered[:LIMIT]}}
    for key in ("task", "labeled", "skipped"):
        if key in section:
            found[key] = section[key]
    return found


def _fairness(report: Mapping[str, Any], parts: list[str]) -> dict[str, Any]:
    if len(parts) < 2:
        return {}
    attribute = _section(_section(report, "fairness"), parts[1])
    groups = attribute.get("groups") or {}
    rows = [
        {"group": group} | {key: rates.get(key) for key in _GROUP_KEYS if key in rates}
        for group, rates in groups.items()
        if isinstance(rates, Mapping)
    ]
    rows.sort(key=lambda row: _number(row.get("selection_rate")))
    found: dict[str, Any] = {"attribute": parts[1], "groups": rows[:LIMIT]}
    for key in ("reference_group", "worst_group", "skipped"):
        if key in attribute:
            found[key] = attribute[key]
    return found


def _outliers(report: Mapping[str, Any]) -> dict[str, Any]:
    section = _section(report, "outliers")
    columns = section.get("columns") or {}
    largest = sorted(columns.items(), key=lambda item: -_number(item[1]))[:LIMIT]
    found: dict[str, Any] = {"columns": dict(largest)}
    for key in ("method", "threshold", "count"):
        if key in section:
            found[key] = section[key]
    return found


def window_evidence(report: Mapping[str, Any], metric: str) -> dict[str, Any]:
    """What of ``report`` (a window's JSON document) explains ``metric``; see the module."""
    parts = metric.split(".")
    family = parts[0]
    if family == "drift":
        return _drift(report, parts)
    if family == "prediction_drift":
        return _prediction_drift(report)
    if family == "quality":
        return _quality(report, parts)
    if family == "performance":
        return _performance(report, parts)
    if family == "fairness":
        return _fairness(report, parts)
    if family == "outliers":
        return _outliers(report)
    return {}
