"""The monitoring report page's later sections: quality, performance, fairness, outliers,
explanations and alerts (the page and its drift sections are in ``_report_html``).

Each function takes the windows (oldest first) and their labels and returns one
``<section>``. A section shows the latest window in tables and, with two or
more windows, its trend as line charts; when the data is missing it says which
part is missing rather than leaving a blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape as _e

from kiln.monitoring import _report_svg as svg
from kiln.monitoring._report_format import (
    DASH,
    Doc,
    as_list,
    as_map,
    cell,
    count,
    empty,
    figure,
    num,
    raw,
    section,
    severity,
    share,
    stat,
    table,
    text_or,
    tr,
)

__all__ = ["alerts", "explanations", "fairness", "outliers", "performance", "quality"]

_PARITY = (
    ("demographic_parity_difference", "demographic parity difference"),
    ("demographic_parity_ratio", "demographic parity ratio"),
    ("equalized_odds_difference", "equalized odds difference"),
    ("disparate_impact", "disparate impact"),
)


def _part(windows: Sequence[Doc], name: str) -> list[Doc | None]:
    """Each window's ``name`` section, None where it is absent or null."""
    return [w.get(name) if isinstance(w.get(name), Mapping) else None for w in windows]


def _names(maps: Sequence[Doc | None], field: str | None = None) -> list[str]:
    """The keys of every map (or of each map's ``field``), in order of first appearance."""
    seen: dict[str, None] = {}
    for found in maps:
        inner = as_map(found) if field is None else as_map(as_map(found).get(field))
        seen.update((str(key), None) for key in inner)
    return list(seen)


def _missing(key: str, title: str, windows: Sequence[Doc], what: str) -> str:
    reason = f"No window has {what}." if windows else f"No windows, so no {what}."
    return section(key, title, empty(reason))


def quality(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    title, parts = "Data quality", _part(windows, "quality")
    if not any(parts):
        return _missing("quality", title, windows, "data-quality results")
    latest = parts[-1]
    html = []
    if latest is None:
        html.append(empty("The latest window has no data-quality results."))
    else:
        findings = sorted(
            (as_map(f) for f in as_list(latest.get("findings"))),
            key=lambda f: f.get("severity") != "critical",
        )
        rows = [
            tr(
                text_or(f.get("check"), DASH),
                [
                    raw(severity(f.get("severity"))),
                    cell(text_or(f.get("column"), "whole window")),
                    cell(count(f.get("count"))),
                    cell(share(f.get("share"))),
                    raw(_e(text_or(f.get("detail"), ""))),
                ],
            )
            for f in findings
        ]
        html.append(
            table(
                ("check", "severity", "column", "count", "share", "detail"),
                rows,
                "Findings in the latest window",
            )
            if rows
            else empty("No findings in the latest window.")
        )
    if len(windows) > 1:
        html.append(_findings_over_time(parts, labels))
    columns = as_map(as_map(latest).get("columns"))
    if columns:
        rows = [
            tr(
                str(name),
                [
                    cell(share(c.get("null_share"))),
                    cell(share(c.get("reference_null_share"))),
                    cell(stat(c.get("min"))),
                    cell(stat(c.get("max"))),
                    raw(_e(_some(as_list(c.get("unseen_categories"))))),
                ],
            )
            for name, c in ((n, as_map(c)) for n, c in columns.items())
        ]
        head = ("column", "null share", "reference null share", "min", "max", "unseen categories")
        html.append(table(head, rows, "Columns in the latest window"))
    elif latest is not None:
        html.append(empty("The latest window has no per-column quality summary."))
    return section("quality", title, "".join(html))


def _findings_over_time(parts: Sequence[Doc | None], labels: Sequence[str]) -> str:
    totals: list[float | None] = []
    critical: list[float | None] = []
    rows = []
    for label, found in zip(labels, parts, strict=True):
        if found is None:
            totals.append(None)
            critical.append(None)
            rows.append(tr(label, [cell(DASH)] * 3))
            continue
        findings = [as_map(f) for f in as_list(found.get("findings"))]
        n_critical = sum(f.get("severity") == "critical" for f in findings)
        totals.append(len(findings))
        critical.append(n_critical)
        rows.append(
            tr(
                label,
                [
                    cell(f"{n_critical:,}"),
                    cell(f"{len(findings) - n_critical:,}"),
                    cell(f"{len(findings):,}"),
                ],
            )
        )
    series = [("all findings", totals), ("critical", critical)]
    chart = svg.line_chart(
        labels, series, label="Data-quality findings per window", y_range=(0.0, 1.0), whole=True
    )
    return (
        "<h3>Findings over time</h3>"
        + figure(
            chart, "Data-quality findings per window.", svg.line_legend([s for s, _ in series])
        )
        + table(("window", "critical", "other", "total"), rows, "Findings per window")
    )


def performance(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    title, parts = "Performance over time", _part(windows, "performance")
    if not any(parts):
        return _missing(
            "performance",
            title,
            windows,
            "performance results (no ground-truth labels were joined, or "
            "performance was not computed)",
        )
    latest = parts[-1]
    html = []
    if latest is None:
        html.append(empty("The latest window has no performance results."))
    else:
        html.append(
            f"<p>Latest window: {_e(text_or(latest.get('task'), 'task unknown'))} · "
            f"{_e(count(latest.get('labeled')))} labeled rows · "
            f"{_e(count(latest.get('unknown_label_ids')))} labels that matched no prediction.</p>"
        )
    metrics = _names(parts, "metrics")
    values = {m: [num(as_map(as_map(p).get("metrics")).get(m)) for p in parts] for m in metrics}
    if metrics:
        rows = [
            tr(m, [cell(stat(as_map(as_map(p).get("metrics")).get(m))) for p in parts])
            for m in metrics
        ]
        html.append(table(("metric", *labels), rows, "Metrics per window"))
    else:
        html.append(empty("No window has metric values."))
    if len(windows) > 1 and metrics:
        charts = "".join(
            figure(
                svg.line_chart(labels, [(m, values[m])], label=f"{m} per window", width=360),
                f"{m} per window.",
            )
            for m in metrics
        )
        html.append(f'<div class="charts">{charts}</div>')
    if latest is not None:
        html.append(_reliability(latest))
    return section("performance", title, "".join(html))


def _reliability(latest: Doc) -> str:
    calibration = latest.get("calibration")
    if not isinstance(calibration, Mapping):
        if latest.get("task") == "regression":
            return ""
        return empty("The latest window has no calibration bins, so no reliability diagram.")
    bins = [as_map(b) for b in as_list(calibration.get("bins"))]
    points = []
    for b in bins:
        x, y = num(b.get("mean_predicted")), num(b.get("fraction_positive"))
        if x is not None and y is not None and num(b.get("count")) != 0:
            tip = (
                f"[{stat(b.get('lower'))}, {stat(b.get('upper'))}): {count(b.get('count'))} "
                f"predictions, mean predicted {stat(x)}, fraction positive {stat(y)}"
            )
            points.append((x, y, tip))
    chart = svg.reliability_chart(
        points, label="Reliability diagram: observed positive fraction against mean prediction"
    )
    rows = [
        tr(
            f"{stat(b.get('lower'))} to {stat(b.get('upper'))}",
            [
                cell(count(b.get("count"))),
                cell(stat(b.get("mean_predicted"))),
                cell(stat(b.get("fraction_positive"))),
            ],
        )
        for b in bins
    ]
    return (
        "<h3>Reliability diagram (latest window)</h3>"
        + figure(
            chart,
            "Fraction of positives per bin of predicted probability; the dashed "
            "diagonal is perfect calibration.",
        )
        + "<details><summary>Calibration bins</summary>"
        + table(("bin", "count", "mean predicted", "fraction positive"), rows, "Calibration bins")
        + "</details>"
    )


def fairness(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    title, parts = "Fairness over time", _part(windows, "fairness")
    attributes = _names(parts)
    if not attributes:
        return _missing("fairness", title, windows, "fairness results")
    html = []
    for attribute in attributes:
        html.append(f"<h3>{_e(attribute)}</h3>")
        latest = as_map(parts[-1]).get(attribute)
        if isinstance(latest, Mapping):
            facts = " · ".join(f"{name} {stat(latest.get(key))}" for key, name in _PARITY)
            html.append(f"<p>Latest window: {_e(facts)}.</p>")
            groups = {str(g): as_map(m) for g, m in as_map(latest.get("groups")).items()}
            keys = [k for k in _names(list(groups.values())) if k != "count"]
            rows = [
                tr(group, [cell(count(m.get("count")))] + [cell(stat(m.get(k))) for k in keys])
                for group, m in groups.items()
            ]
            html.append(
                table(("group", "count", *keys), rows, f"Groups of {attribute}, latest window")
                if rows
                else empty("The latest window has no groups for this attribute.")
            )
        else:
            html.append(empty("This attribute is not in the latest window."))
        if len(windows) > 1:
            series = [
                (name, [num(as_map(as_map(p).get(attribute)).get(key)) for p in parts])
                for key, name in (_PARITY[0], _PARITY[2])
            ]
            chart = svg.line_chart(
                labels, series, label=f"Parity differences of {attribute}", y_range=(0.0, 0.0)
            )
            html.append(
                figure(
                    chart,
                    f"Parity differences of {attribute} per window.",
                    svg.line_legend([name for name, _ in series]),
                )
            )
    return section("fairness", title, "".join(html))


def outliers(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    title, parts = "Outliers over time", _part(windows, "outliers")
    if not any(parts):
        return _missing("outliers", title, windows, "outlier results")
    latest = parts[-1]
    html = []
    if latest is None:
        html.append(empty("The latest window has no outlier results."))
    else:
        html.append(
            f"<p>Latest window: {_e(count(latest.get('count')))} outlying rows "
            f"({_e(share(latest.get('share')))}) by "
            f"{_e(text_or(latest.get('method'), 'an unnamed method'))}.</p>"
        )
        columns = as_map(latest.get("columns"))
        ranked = sorted(columns.items(), key=lambda item: -(num(item[1]) or 0.0))
        rows = [tr(str(name), [cell(share(value))]) for name, value in ranked]
        if rows:
            html.append(table(("column", "outlier share"), rows, "Outliers per column"))
    if len(windows) > 1:
        chart = svg.line_chart(
            labels,
            [("outlier share", [num(as_map(p).get("share")) for p in parts])],
            label="Share of outlying rows per window",
            y_range=(0.0, 0.0),
            percent=True,
        )
        html.append(figure(chart, "Share of outlying rows per window."))
    return section("outliers", title, "".join(html))


def explanations(found: object) -> str:
    title = "Explanations"
    if not isinstance(found, Mapping):
        return section("explanations", title, empty("The report has no feature importances."))
    items = []
    for item in (as_map(i) for i in as_list(found.get("importance"))):
        value = num(item.get("value"))
        if value is not None:
            items.append((text_or(item.get("feature"), DASH), value, num(item.get("std"))))
    items.sort(key=lambda item: -abs(item[1]))
    method = text_or(found.get("method"), "an unnamed method")
    chart = svg.bar_chart(items, label=f"Feature importance by {method}")
    return section(
        "explanations",
        title,
        f"<p>Feature importance by {_e(method)}; whiskers show ± one standard deviation.</p>"
        + figure(chart, "Importance per feature, largest first."),
    )


def alerts(found: object) -> str:
    title = "Alerts"
    if not isinstance(found, list | tuple):
        return section("alerts", title, empty("The report carries no alert information."))
    if not found:
        return section("alerts", title, empty("No alerts were raised."))
    rows = [
        tr(
            stat(a.get("id")),
            [
                raw(severity(a.get("severity"))),
                cell(text_or(a.get("status"), DASH)),
                raw(_e(text_or(a.get("title"), DASH))),
                raw(_e(text_or(a.get("rule"), DASH))),
                cell(stat(a.get("value"))),
                cell(text_or(a.get("created_at"), DASH)),
            ],
        )
        for a in (as_map(a) for a in found)
    ]
    head = ("id", "severity", "status", "title", "rule", "value", "created")
    return section("alerts", title, table(head, rows, "Alerts"))


def _some(values: Sequence[object], limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    more = len(values) - limit
    return (shown + (f" and {more:,} more" if more > 0 else "")) or DASH
