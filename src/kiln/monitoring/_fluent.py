"""The SDK's monitoring verbs on the current context (``kiln.get_context()``).

Thin over the services: each resolves the context and its project and
calls the function of the same job in ``_profiles``, ``_monitors``,
``_evaluate`` or ``_report``.
"""

from __future__ import annotations

import getpass
from datetime import datetime
from pathlib import Path
from typing import Any

from kiln.alerts import Alert
from kiln.context import get_context
from kiln.monitoring._monitor_spec import MonitorSpec
from kiln.monitoring._monitors import Monitor
from kiln.monitoring._profiles import StoredProfile
from kiln.monitoring._report import ReportFiles
from kiln.monitoring._results import MonitorResult
from kiln.monitoring._rules import AlertRule

__all__ = [
    "add_rule",
    "check_monitor",
    "create_monitor",
    "evaluate_monitor",
    "get_monitor",
    "list_monitors",
    "list_results",
    "profile_reference",
    "report",
]


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def profile_reference(name: str, source: Any, *, columns: list[str] | None = None) -> StoredProfile:
    """Profile ``source`` (``"data@3"``, ``"run:<id>"``, ``"models:/m/2"``, rows) as ``name``."""
    from kiln.monitoring._profiles import create_profile

    context = get_context()
    stored, _ = create_profile(
        context, context.settings.project, name, source, columns=columns, user=_user()
    )
    return stored


def create_monitor(
    name: str,
    *,
    deployment: str | None = None,
    dataset: str | None = None,
    description: str = "",
    replace: bool = False,
    **spec: Any,
) -> Monitor:
    """A monitor of ``deployment`` (its prediction log) or ``dataset``; ``spec`` as MonitorSpec."""
    from kiln.errors import InvalidInput
    from kiln.monitoring import _monitors

    if (deployment is None) == (dataset is None):
        raise InvalidInput("a monitor watches one deployment or one dataset", field="deployment")
    context = get_context()
    kind, target = ("deployment", deployment) if deployment is not None else ("dataset", dataset)
    assert target is not None
    return context.db.run(
        _monitors.create_monitor,
        context.settings.project,
        name,
        target_kind=kind,
        target=target,
        spec=MonitorSpec.from_dict(spec),
        description=description,
        user=_user(),
        replace=replace,
    )


def get_monitor(name: str) -> Monitor:
    from kiln.monitoring import _monitors

    context = get_context()
    return context.db.read(_monitors.get_monitor, context.settings.project, name)


def list_monitors() -> list[Monitor]:
    from kiln.monitoring import _monitors

    context = get_context()
    return context.db.read(_monitors.list_monitors, context.settings.project)


def evaluate_monitor(
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
) -> list[MonitorResult]:
    """Evaluate monitor ``name`` now; see :func:`kiln.monitoring._evaluate.evaluate_monitor`."""
    from kiln.monitoring import _evaluate

    context = get_context()
    return _evaluate.evaluate_monitor(
        context, context.settings.project, name, since=since, until=until, version=version
    )


def list_results(
    name: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[MonitorResult]:
    from kiln.monitoring import _results

    context = get_context()
    return context.db.read(
        _results.list_results, context.settings.project, name, since=since, until=until
    )


def report(
    name: str,
    folder: str | Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> ReportFiles:
    """Write monitor ``name``'s report (HTML and JSON) into ``folder``."""
    from kiln.monitoring._report import monitor_report, write_report

    context = get_context()
    document = monitor_report(context, context.settings.project, name, since=since, until=until)
    return write_report(document, folder, stem=name)


def add_rule(
    monitor: str,
    name: str,
    condition: str,
    *,
    severity: str = "warning",
    sinks: list[dict[str, Any]] | None = None,
    pipeline: str | None = None,
    pipeline_params: dict[str, Any] | None = None,
    replace: bool = False,
) -> AlertRule:
    """Alert when ``condition`` (``"drift.share > 0.3"``) holds for a window of ``monitor``.

    ``sinks`` default to the log; ``pipeline`` (``module:function``) starts
    when the rule fires, with ``pipeline_params`` and the alert's id.
    """
    from kiln.monitoring._rules import create_rule, parse_condition

    metric, operator, threshold = parse_condition(condition)
    context = get_context()
    return context.db.run(
        create_rule,
        context.settings.project,
        monitor,
        name,
        metric=metric,
        operator=operator,
        threshold=threshold,
        severity=severity,
        sinks=sinks if sinks is not None else [{"kind": "log"}],
        pipeline=pipeline,
        pipeline_params=pipeline_params,
        replace=replace,
    )


def check_monitor(
    name: str, *, since: datetime | None = None, until: datetime | None = None
) -> tuple[list[MonitorResult], list[Alert]]:
    """Evaluate ``name`` now, then its rules: the windows stored and the alerts raised."""
    from kiln.monitoring import _evaluate
    from kiln.monitoring._rule_evaluation import evaluate_rules

    context = get_context()
    project = context.settings.project
    results = _evaluate.evaluate_monitor(context, project, name, since=since, until=until)
    return results, evaluate_rules(context, project, name, results)
