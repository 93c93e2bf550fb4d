"""Pipelines monitoring ships: ``check_monitors``, the one to put on a schedule.

::

    kiln pipelines schedules create check-hourly --cron "5 * * * *" \\
        --target kiln.monitoring.pipelines:check_monitors

    check_monitors(monitors=None, since=None, until=None, project=None)
      one step, ``check`` (never cached: each run looks at new data):
        for each named monitor (default: every monitor of the project)
          evaluate_monitor ──► evaluate_rules (alerts, deliveries, triggered pipelines)
      ──► {"windows": n, "alerts": n, "monitors": {name: {"windows", "alerts": [ids]}}}

A monitor that cannot be checked (its profile was deleted, say) does not
stop the others; once all were tried, the step fails naming each one that
could not, so the run (and a schedule's firing) shows it. ``since`` and
``until`` are ISO 8601 times with a zone; without them each monitor picks
up from its newest window (``evaluate_monitor``). Pipelines its rules
start are imported from the folder the run works in: a schedule's
``workdir``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from kiln.errors import InvalidInput, KilnError
from kiln.pipelines import pipeline, step

__all__ = ["check", "check_monitors"]

logger = logging.getLogger("kiln.monitoring.alerts")


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidInput(
            f"{field} must be an ISO 8601 time with a zone (2026-12-01T10:00:00+00:00), "
            f"got {value!r}",
            field=field,
        )
    return parsed


@step(cache=False)
def check(
    monitors: list[str] | None,
    since: str | None,
    until: str | None,
    project: str | None,
) -> dict[str, Any]:
    """Evaluate the monitors and their alert rules; a summary of what was found."""
    import os

    from kiln.context import get_context
    from kiln.monitoring._evaluate import evaluate_monitor
    from kiln.monitoring._monitors import list_monitors
    from kiln.monitoring._rule_evaluation import evaluate_rules

    context = get_context()
    project = project or context.settings.project
    start, end = _time(since, "since"), _time(until, "until")
    if monitors is None:
        names = [monitor.name for monitor in context.db.read(list_monitors, project)]
    elif isinstance(monitors, list) and all(isinstance(name, str) for name in monitors):
        names = list(monitors)
    else:
        raise InvalidInput(
            f"monitors must be a list of monitor names, got {monitors!r}", field="monitors"
        )
    summary: dict[str, Any] = {"project": project, "windows": 0, "alerts": 0, "monitors": {}}
    failed: dict[str, str] = {}
    for name in names:
        try:
            results = evaluate_monitor(context, project, name, since=start, until=end)
            raised = evaluate_rules(context, project, name, results, workdir=os.getcwd())
        except Exception as exc:  # one monitor's failure must not hide the others' alerts
            logger.warning("monitor %s/%s could not be checked: %s", project, name, exc)
            failed[name] = str(exc)
            continue
        summary["monitors"][name] = {
            "windows": len(results),
            "alerts": [alert.id for alert in raised],
        }
        summary["windows"] += len(results)
        summary["alerts"] += len(raised)
    if failed:
        listed = "; ".join(f"{name}: {error}" for name, error in failed.items())
        raise KilnError(
            f"{len(failed)} of {len(names)} monitors could not be checked ({listed}); the "
            f"others evaluated {summary['windows']} window(s) and raised {summary['alerts']} "
            "alert(s)"
        )
    return summary


@pipeline
def check_monitors(
    monitors: list[str] | None = None,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
) -> Any:
    """Evaluate monitors (default: all of the project) and their alert rules."""
    return check(monitors, since, until, project)
