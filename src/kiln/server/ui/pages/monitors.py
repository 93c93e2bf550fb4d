"""Monitors: the list, and one monitor's drift, quality, performance, fairness and alerts.

Pages read through the same services as ``/api/v1/monitors``: the records
and stored windows of ``kiln.monitoring`` (flat metrics for everything drawn
over time, one blob read for the newest window's overlays and findings) and
the monitor's alerts from ``kiln.alerts``. Charts are inline SVG from the
report's own helpers (``kiln.monitoring._report_svg``), so the page and the
full report draw a distribution the same way; the full report itself is the
API's self-contained page, linked from here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from markupsafe import Markup
from starlette.responses import Response

from kiln.monitoring._monitors import Monitor
from kiln.monitoring._results import MonitorResult
from kiln.server.deps import ContextDep
from kiln.server.ui._route import UiRoute
from kiln.server.ui._session import Reader
from kiln.server.ui._templates import render

router = APIRouter(route_class=UiRoute)

NamePath = Annotated[str, Path(min_length=1, max_length=128)]
#: The monitor page reads this many of the newest windows; the drift table shows fewer.
WINDOWS_READ = 200
TABLE_WINDOWS = 12
#: Flat performance metrics that count labels rather than measure the model.
_LABEL_COUNTS = ("labeled", "unknown_label_ids")


def monitor_url(name: str) -> str:
    return f"/monitors/{quote(name, safe='')}"


def api_url(name: str, project: str, tail: str = "") -> str:
    """An API address of the monitor; the project rides along, as the UI's is a cookie."""
    return f"/api/v1/monitors/{quote(name, safe='')}{tail}?project={quote(project, safe='')}"


@dataclass(frozen=True, slots=True)
class Listed:
    """One row of the list: the monitor, its newest window and its open alerts."""

    monitor: Monitor
    latest: MonitorResult | None
    open_alerts: int

    @property
    def drift_share(self) -> float | None:
        return None if self.latest is None else self.latest.metrics.get("drift.share")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A column of the newest window: its test, verdict and overlay chart (SVG)."""

    column: str
    entry: Mapping[str, Any]
    chart: Markup

    @property
    def drift(self) -> bool | None:
        found = self.entry.get("drift")
        return found if isinstance(found, bool) else None


def _shares(counts: Any) -> list[float]:
    numbers = [float(c) for c in counts or [] if isinstance(c, int | float)]
    total = sum(numbers)
    return [n / total if total else 0.0 for n in numbers]


def overlay(column: str, entry: Mapping[str, Any]) -> Markup:
    """Reference against current: a histogram for a number, bars per category otherwise."""
    from kiln.monitoring import _report_svg as svg

    histogram, categories = entry.get("histogram"), entry.get("categories")
    if isinstance(histogram, Mapping):
        edges = [float(e) for e in histogram.get("edges") or []]
        chart = svg.histogram_chart(
            edges,
            _shares(histogram.get("reference")),
            _shares(histogram.get("current")),
            label=f"{column}: share of rows per bin, reference and current",
        )
    elif isinstance(categories, Mapping):
        chart = svg.category_chart(
            [str(v) for v in categories.get("values") or []],
            _shares(categories.get("reference")),
            _shares(categories.get("current")),
            label=f"{column}: share of rows per category, reference and current",
        )
    else:
        chart = ""
    return Markup(chart)  # the SVG helpers escape every label


def distributions(window: Mapping[str, Any]) -> list[Distribution]:
    """The newest window's columns, drifted first (the order the report uses), then by name."""
    columns = (window.get("drift") or {}).get("columns") or {}
    found = [
        Distribution(str(name), entry, overlay(str(name), entry)) for name, entry in columns.items()
    ]
    rank = {True: 0, None: 1, False: 2}
    return sorted(found, key=lambda d: (rank[d.drift], d.column))


def window_label(result: MonitorResult) -> str:
    return result.start.strftime("%m-%d %H:%M")


def line(
    results: Sequence[MonitorResult],
    names: Sequence[tuple[str, str]],
    *,
    label: str,
    percent: bool = False,
    guide: tuple[str, float] | None = None,
) -> Markup:
    """A line chart of flat metrics over the windows: ``(metric key, series name)`` pairs."""
    from kiln.monitoring import _report_svg as svg

    series = [(shown, [r.metrics.get(key) for r in results]) for key, shown in names]
    chart = svg.line_chart(
        [window_label(r) for r in results],
        series,
        label=label,
        y_range=(0, 1) if percent else None,
        guide=guide,
        percent=percent,
    )
    return Markup(chart)  # the SVG helpers escape every label


def performance_names(results: Sequence[MonitorResult]) -> list[str]:
    """The performance metrics any window has, by name (label counts left out)."""
    found = {
        key.removeprefix("performance.")
        for r in results
        for key in r.metrics
        if key.startswith("performance.")
    }
    return sorted(found - set(_LABEL_COUNTS))


@router.get("/monitors")
def monitors_list(request: Request, context: ContextDep, viewing: Reader) -> Response:
    """Every monitor: its target, newest window, drift share and open alerts."""
    from kiln.alerts import AlertStatus, list_alerts
    from kiln.alerts._alerts import MAX_LIST
    from kiln.monitoring._monitors import list_monitors
    from kiln.monitoring._results import list_results

    project = viewing.project
    rows = []
    for monitor in context.db.read(list_monitors, project):
        newest = context.db.read(list_results, project, monitor.name, limit=1)
        alerts = context.db.read(
            list_alerts,
            project,
            status=AlertStatus.OPEN,
            subject_kind="monitor",
            subject_id=monitor.name,
            limit=MAX_LIST,
        )
        rows.append(Listed(monitor, newest[0] if newest else None, len(alerts)))
    return render(
        request, "monitors.html", viewing, title="Monitors", rows=rows, monitor_url=monitor_url
    )


@router.get("/monitors/{name}")
def monitor_page(
    request: Request, name: NamePath, context: ContextDep, viewing: Reader
) -> Response:
    """Drift over time and per column, the newest window's overlays and findings, alerts."""
    import orjson

    from kiln.alerts import list_alerts
    from kiln.monitoring._monitors import get_monitor
    from kiln.monitoring._results import list_results

    project = viewing.project
    monitor = context.db.read(get_monitor, project, name)
    results = context.db.read(list_results, project, name, limit=WINDOWS_READ)
    latest = results[-1] if results else None
    window: dict[str, Any] = (
        orjson.loads(context.artifacts.read_bytes(latest.digest)) if latest else {}
    )
    shown = distributions(window)
    recent = results[-TABLE_WINDOWS:]
    performance = performance_names(results)
    alerts = context.db.read(
        list_alerts, project, subject_kind="monitor", subject_id=name, limit=100
    )
    return render(
        request,
        "monitor.html",
        viewing,
        title=f"Monitor {name}",
        monitor=monitor,
        results=results,
        latest=latest,
        window=window,
        distributions=shown,
        recent=recent,
        window_label=window_label,
        drift_chart=line(
            results,
            [("drift.share", "drift share")],
            label="Share of drifted columns per window",
            percent=True,
            guide=("threshold", monitor.spec.drift_share),
        ),
        performance=performance,
        performance_chart=line(
            results,
            [(f"performance.{n}", n) for n in performance],
            label="Performance per window",
        ),
        outliers_chart=line(
            results, [("outliers.share", "outlier share")], label="Outlier share", percent=True
        ),
        alerts=alerts,
        report_url=api_url(name, project, "/report.html"),
        window_url=(
            api_url(name, project, f"/windows/{quote(latest.start.isoformat(), safe='')}")
            if latest
            else None
        ),
    )
