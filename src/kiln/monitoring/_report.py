"""Monitoring reports: the document (docs/monitoring-report.md) and its files.

::

    monitor_report(context, project, name, since=, until=)   a stored monitor's windows
    compare_report(reference, current, ...)                   a reference and current data, now
        ──► document (dict) ──► write_report(document, folder) ──► report.html + report.json

A monitor's report reads only what evaluation stored: the windows' report
blobs and the monitor's alerts. No data is read again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.monitoring._monitor_spec import MonitorSpec

__all__ = ["ReportFiles", "compare_report", "monitor_report", "write_report"]

FORMAT = 1


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where a report was written."""

    html: Path
    json: Path


def _settings(spec: MonitorSpec) -> dict[str, Any]:
    return {
        "correction": spec.correction,
        "alpha": spec.thresholds.get("ks", 0.05),
        "drift_share_threshold": spec.drift_share,
        "window": spec.window,
        "tests": spec.tests if not isinstance(spec.tests, Mapping) else dict(spec.tests),
    }


def _alerts(context: Context, project: str, monitor: str) -> list[dict[str, Any]]:
    from kiln.alerts import list_alerts

    found = context.db.read(
        list_alerts, project, subject_kind="monitor", subject_id=monitor, limit=200
    )
    return [
        {
            "id": alert.id,
            "title": alert.title,
            "severity": alert.severity,
            "status": alert.status.value,
            "created_at": alert.created_at.isoformat(),
            "rule": alert.details.get("rule"),
            "value": alert.details.get("value"),
        }
        for alert in found
    ]


def monitor_report(
    context: Context,
    project: str,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 200,
    explanations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document of monitor ``name``'s stored windows ending in ``(since, until]``.

    ``explanations`` default to the newest window's (a monitor with ``explain``).
    """
    from kiln.monitoring._monitors import get_monitor
    from kiln.monitoring._profiles import get_stored_profile
    from kiln.monitoring._results import list_results

    monitor = context.db.read(get_monitor, project, name)
    profile = context.db.read(get_stored_profile, project, monitor.spec.profile)
    results = context.db.read(list_results, project, name, since=since, until=until, limit=limit)
    windows = [orjson.loads(context.artifacts.read_bytes(r.digest)) for r in results]
    if explanations is None:
        explained = [
            w["explanations"] for w in windows if (w.get("explanations") or {}).get("importance")
        ]
        explanations = explained[-1] if explained else None
    current_rows = sum(int(w.get("rows") or 0) for w in windows)
    return {
        "kiln_monitor_report": FORMAT,
        "title": f"{name}: monitoring report",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "subject": {
            "kind": monitor.target_kind,
            "name": monitor.target,
            "monitor": name,
            "reference": {"kind": "profile", "name": profile.ref, "rows": profile.rows},
            "current": {
                "description": f"{len(windows)} windows of {monitor.spec.window}"
                if monitor.target_kind == "deployment"
                else f"{len(windows)} evaluated versions",
                "rows": current_rows,
            },
        },
        "settings": _settings(monitor.spec),
        "windows": windows,
        "explanations": dict(explanations) if explanations is not None else None,
        "alerts": _alerts(context, project, name),
    }


def compare_report(
    reference: Any,
    current: Any,
    *,
    title: str = "Drift and data quality",
    spec: MonitorSpec | Mapping[str, Any] | None = None,
    explanations: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The report document of ``current`` against ``reference`` (rows or a ReferenceProfile).

    ``spec`` takes a monitor's settings (``features``, ``tests``,
    ``correction``, ``task``, ``sensitive``…; its ``profile`` is ignored).
    """
    import pyarrow as pa

    from kiln.monitoring._monitor_spec import MonitorSpec
    from kiln.monitoring._profiling import as_table, build_profile
    from kiln.monitoring._reference import ReferenceProfile
    from kiln.monitoring._window import evaluate_window

    settings = dict(spec.to_dict() if isinstance(spec, MonitorSpec) else spec or {})
    settings["profile"] = "adhoc"
    checked = MonitorSpec.from_dict(settings)
    profile = reference if isinstance(reference, ReferenceProfile) else build_profile(reference)
    table: pa.Table = as_table(current, field="current")
    window = evaluate_window(profile, checked, table)
    source = dict(profile.source)
    return {
        "kiln_monitor_report": FORMAT,
        "title": title,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "subject": {
            "kind": "datasets",
            "name": title,
            "reference": {
                "kind": source.get("kind", "rows"),
                "name": source.get("name", ""),
                "rows": profile.rows,
            },
            "current": {"description": "current data", "rows": table.num_rows},
        },
        "settings": _settings(checked),
        "windows": [{"start": None, "end": None} | window],
        "explanations": dict(explanations) if explanations is not None else None,
        "alerts": None,
    }


def write_report(
    document: Mapping[str, Any], folder: str | Path, *, stem: str = "report"
) -> ReportFiles:
    """Write ``<stem>.html`` (self-contained) and ``<stem>.json`` into ``folder``."""
    from kiln.monitoring._report_html import render_html

    if not stem or "/" in stem or "\\" in stem:
        raise InvalidInput(f"report name {stem!r} must be a plain file name", field="stem")
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    html = target / f"{stem}.html"
    data = target / f"{stem}.json"
    page = render_html(document)
    data.write_bytes(
        orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    )
    html.write_text(page, encoding="utf-8")
    return ReportFiles(html, data)
