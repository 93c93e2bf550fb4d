"""Evaluating a monitor's alert rules on its evaluated windows.

::

    evaluate_rules(context, project, monitor, results)
      for each window, oldest first; for each enabled rule, by name:
        the window's metric is absent (no labels yet)      ──► nothing, not an error
        the condition does not hold                        ──► nothing
        the window ends at or before last_fired_window     ──► nothing (it fired already)
        else, in one transaction: move last_fired_window to the window's end, if it is
          still older (compare-and-set) ──► raise the alert (kind "monitor") with the
          evidence of the window's report; the process whose update matched is the only
          one that raises it
      then, the alert committed: deliver it to each sink (_deliveries.py) and start the
      rule's pipeline (_triggers.py)
    ──► [Alert], in the order raised

A window fires a rule once: evaluating the window again (late labels
replace its result) does not raise a second alert, nor does a second
process evaluating the same monitor at the same time. A window older than
the newest one a rule fired on never fires it, even if it newly satisfies
the condition.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from kiln.alerts import Alert, raise_alert
from kiln.db.tables import AlertRuleRow
from kiln.errors import InvalidInput
from kiln.monitoring._deliveries import ATTEMPTS, BACKOFF, deliver_alert
from kiln.monitoring._evidence import window_evidence
from kiln.monitoring._results import MonitorResult
from kiln.monitoring._rules import AlertRule, list_rules

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["evaluate_rules", "format_value"]

logger = logging.getLogger("kiln.monitoring.alerts")


def format_value(value: float) -> str:
    """A metric's value for a title: whole numbers whole, others to two places (or 3 digits)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:.2f}"


def _report(context: Context, digest: str, cache: dict[str, Any]) -> Mapping[str, Any] | str:
    """The window's report document, or why it could not be read."""
    if digest not in cache:
        import orjson

        try:
            document = orjson.loads(context.artifacts.read_bytes(digest))
            cache[digest] = document if isinstance(document, dict) else "it is not an object"
        except Exception as exc:  # the alert matters more than its evidence
            cache[digest] = f"the window's report {digest} could not be read: {exc}"
    found: Mapping[str, Any] | str = cache[digest]
    return found


def _details(rule: AlertRule, result: MonitorResult, value: float, report: Any) -> dict[str, Any]:
    evidence = window_evidence(report, rule.metric) if isinstance(report, Mapping) else {}
    if isinstance(report, str):
        evidence = {"unavailable": report}
    return {
        "rule": rule.name,
        "condition": rule.condition,
        "metric": rule.metric,
        "operator": rule.operator,
        "threshold": rule.threshold,
        "value": value,
        "monitor": rule.monitor,
        "window": {"start": result.start.isoformat(), "end": result.end.isoformat()},
        "rows": result.rows,
        "evidence": evidence,
    }


def _fire(
    session: Session,
    project: str,
    rule: AlertRule,
    window_end: datetime,
    *,
    title: str,
    details: dict[str, Any],
    report_digest: str,
) -> Alert | None:
    """Claim ``window_end`` for ``rule`` and raise its alert; None if it was claimed already."""
    claimed = session.execute(
        update(AlertRuleRow)
        .where(
            AlertRuleRow.id == rule.id,
            AlertRuleRow.enabled.is_(True),
            or_(
                AlertRuleRow.last_fired_window.is_(None),
                AlertRuleRow.last_fired_window < window_end,
            ),
        )
        .values(last_fired_window=window_end)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        return None
    return raise_alert(
        session,
        project,
        kind="monitor",
        severity=rule.severity,
        title=title,
        subject_kind="monitor",
        subject_id=rule.monitor,
        details=details,
        report_digest=report_digest,
    )


def _windows(monitor: str, results: Iterable[MonitorResult]) -> list[MonitorResult]:
    windows = list(results)
    for result in windows:
        if not isinstance(result, MonitorResult) or result.monitor != monitor:
            raise InvalidInput(
                f"results must be windows of monitor {monitor!r} (from evaluate_monitor), got "
                f"{result!r}",
                field="results",
            )
    return sorted(windows, key=lambda result: (result.end, result.start))


def evaluate_rules(
    context: Context,
    project: str,
    monitor: str,
    results: Iterable[MonitorResult],
    *,
    workdir: str | None = None,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
) -> list[Alert]:
    """Raise, deliver and act on the alerts the enabled rules of ``monitor`` fire on ``results``.

    ``results`` are the monitor's evaluated windows (``evaluate_monitor``);
    a rule's pipeline starts in ``workdir`` (default: the current folder).
    ``attempts`` and ``backoff`` govern the retries of each sink.
    """
    windows = _windows(monitor, results)
    rules = [rule for rule in context.db.read(list_rules, project, monitor) if rule.enabled]
    reports: dict[str, Any] = {}
    alerts: list[Alert] = []
    for result in windows:
        for rule in rules:
            value = result.metrics.get(rule.metric)
            if value is None or not rule.holds(value):
                continue
            if rule.last_fired_window is not None and result.end <= rule.last_fired_window:
                continue
            report = _report(context, result.digest, reports)
            shown = f"{format_value(value)} {rule.operator} {rule.threshold:g}"
            title = f"{monitor}: {rule.metric} {shown}"
            alert = context.db.run(
                _fire,
                project,
                rule,
                result.end,
                title=title,
                details=_details(rule, result, value, report),
                report_digest=result.digest,
            )
            if alert is None:
                continue
            logger.info("alert %d raised: %s", alert.id, alert.title)
            deliver_alert(context, alert, rule.sinks, attempts=attempts, backoff=backoff)
            if rule.pipeline is not None:
                from kiln.monitoring._triggers import trigger_pipeline

                alert, _, _ = trigger_pipeline(context, alert, rule, workdir=workdir)
            alerts.append(alert)
    return alerts
