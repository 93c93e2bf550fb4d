"""One self-contained HTML page for a monitoring report document.

:func:`render_html` reads the JSON-able report document (its shape is in
docs/monitoring-report.md), not Kiln's objects, so a report saved long ago or
written by another tool renders the same way. For the same reason every
section may be absent or null and the page says so in a sentence instead of
failing. The page needs nothing else: inline CSS and SVG
(:mod:`kiln.monitoring._report_svg`), one small inline script for the column
filter, no network resource. The document itself rides along in a
``<script type="application/json" id="kiln-report">`` block, so the page
carries its data.

::

    _report_html.py       the page: head, header and summary, windows, embedded JSON
      ├── _report_drift.py      drift over time, feature distributions
      ├── _report_sections.py   quality, performance, fairness, outliers,
      │                         explanations, alerts
      ├── _report_svg.py        the inline SVG charts
      └── _report_format.py     number formats and HTML pieces, shared by all
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from kiln.errors import InvalidInput
from kiln.monitoring import _report_drift as drift
from kiln.monitoring import _report_sections as sections
from kiln.monitoring import _report_svg as svg
from kiln.monitoring._report_format import (
    DASH,
    Doc,
    as_list,
    as_map,
    cell,
    count,
    empty,
    plural,
    raw,
    section,
    share,
    stat,
    table,
    text_or,
    tr,
    verdict_words,
)

__all__ = ["render_html"]

#: The version of the report document this renderer reads.
REPORT_VERSION = 1

_CSS = """
body { max-width: 1200px; margin: 2rem auto; padding: 0 1.5rem; }
h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; padding-bottom: .25rem;
     border-bottom: 1px solid #d1d9e0; }
h3 { font-size: 1rem; margin: 1rem 0 .35rem; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; margin: .5rem 0; }
caption { text-align: left; font-weight: 600; padding: .35rem 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { color: #59636e; } dl.facts dd { margin: 0; overflow-wrap: anywhere; }
ul.summary, nav ul, ul.legend { list-style: none; padding: 0; display: flex; flex-wrap: wrap;
                               gap: .3rem 1.25rem; }
ul.legend svg { display: inline-block; vertical-align: middle; }
.cards, .charts { display: grid; gap: 1rem;
                  grid-template-columns: repeat(auto-fill, minmax(min(340px, 100%), 1fr)); }
.card { border: 1px solid #d1d9e0; border-radius: 6px; padding: .5rem .75rem; min-width: 0; }
.card p { margin: .25rem 0; color: #59636e; }
figure { margin: .5rem 0; min-width: 0; }
figcaption { color: #59636e; font-size: .9em; }
svg.chart { width: 100%; max-width: 36rem; height: auto; }
svg.square { width: 100%; max-width: 20rem; height: auto; }
.verdict { font-size: .85em; } .unknown { background: #59636e; }
td.cell { font-variant-numeric: tabular-nums; white-space: nowrap; text-align: right; }
.cell.drift { background: #ffebe9; color: #82071e; font-weight: 600; }
.cell.ok { background: #dafbe1; color: #116329; }
.cell.unknown { background: #fff8c5; color: #4d2d00; }
.cell.absent { color: #59636e; }
.key span.cell { display: inline-block; padding: 0 .4rem; margin-right: .5rem; }
.empty { color: #59636e; font-style: italic; }
input[type=search] { font: inherit; padding: .2rem .4rem; }
[hidden] { display: none !important; }
@media (max-width: 640px) { body { margin: .75rem auto; padding: 0 .6rem; font-size: 15px; } }
"""

_FILTER_JS = """
(function () {
  var input = document.getElementById("kiln-filter");
  if (!input) { return; }
  input.parentNode.hidden = false;
  input.addEventListener("input", function () {
    var query = input.value.toLowerCase();
    document.querySelectorAll("[data-column]").forEach(function (node) {
      var name = node.getAttribute("data-column").toLowerCase();
      node.hidden = query !== "" && name.indexOf(query) < 0;
    });
  });
})();
"""

#: Shown by the script only, so a page without scripts has no dead control.
_FILTER = (
    '<p class="filter" hidden><label for="kiln-filter">Filter columns by name</label> '
    '<input id="kiln-filter" type="search" autocomplete="off"></p>'
)

_SECTIONS = (
    ("windows", "Windows"),
    ("drift", "Drift over time"),
    ("features", "Feature distributions"),
    ("quality", "Data quality"),
    ("performance", "Performance over time"),
    ("fairness", "Fairness over time"),
    ("outliers", "Outliers over time"),
    ("explanations", "Explanations"),
    ("alerts", "Alerts"),
)


def render_html(report: Mapping[str, Any]) -> str:
    """Render a monitoring report document as one self-contained HTML page.

    The same document always gives the same bytes: there is no render time,
    and charts print coordinates with fixed precision. Raises
    :class:`~kiln.errors.InvalidInput` if ``report`` is not a mapping, names
    another document version, or holds values JSON cannot carry.
    """
    from kiln.data._html import _CSS as BASE_CSS

    if not isinstance(report, Mapping):
        raise InvalidInput(
            f"report must be a mapping (the report document), got {type(report).__name__}",
            field="report",
        )
    version = report.get("kiln_monitor_report", REPORT_VERSION)
    if version != REPORT_VERSION:
        raise InvalidInput(
            f"kiln_monitor_report is {version!r} but this Kiln renders version "
            f"{REPORT_VERSION}; render it with the Kiln that wrote it",
            field="kiln_monitor_report",
        )
    data = _embedded_json(report)
    windows = [as_map(window) for window in as_list(report.get("windows"))]
    labels = [f"W{index}" for index in range(1, len(windows) + 1)]
    settings = as_map(report.get("settings"))
    title = text_or(report.get("title"), "Monitoring report")
    body = [
        _windows(windows, labels),
        drift.drift(windows, labels, settings),
        drift.features(windows),
        sections.quality(windows, labels),
        sections.performance(windows, labels),
        sections.fairness(windows, labels),
        sections.outliers(windows, labels),
        sections.explanations(report.get("explanations")),
        sections.alerts(report.get("alerts")),
    ]
    nav = "".join(f'<li><a href="#{key}">{escape(name)}</a></li>' for key, name in _SECTIONS)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{BASE_CSS}{_CSS}</style>
</head>
<body>
{svg.defs()}
<header>
<h1>{escape(title)}</h1>
{_facts(report, settings)}
{_summary(windows, report.get("alerts"))}
</header>
<nav aria-label="Sections"><ul>{nav}</ul></nav>
{_FILTER if any(drift.entries(w) for w in windows) else ""}<main>
{"".join(body)}
</main>
<script type="application/json" id="kiln-report">{data}</script>
<script>{_FILTER_JS}</script>
</body>
</html>
"""


def _embedded_json(report: Mapping[str, Any]) -> str:
    """The document as strict JSON that no string inside it can end the script block."""
    try:
        text = json.dumps(_strict(report), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the report holds a value JSON cannot carry ({exc}); pass plain dicts, lists, "
            "strings, numbers, booleans and None",
            field="report",
        ) from exc
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _strict(value: Any) -> Any:
    """NaN and ±inf become null: strict JSON (and a browser's ``JSON.parse``) has neither."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    return value


def _facts(report: Doc, settings: Doc) -> str:
    subject = as_map(report.get("subject"))
    reference = as_map(subject.get("reference"))
    current = as_map(subject.get("current"))

    def joined(*parts: object) -> str:
        return " · ".join(str(part) for part in parts if part not in (None, "")) or "not given"

    def rows(value: object) -> str | None:
        return None if value is None else f"{count(value)} rows"

    correction = settings.get("correction")
    facts = [
        ("Subject", joined(subject.get("kind"), subject.get("name"))),
        (
            "Reference",
            joined(reference.get("kind"), reference.get("name"), rows(reference.get("rows"))),
        ),
        ("Current data", joined(current.get("description"), rows(current.get("rows")))),
        ("Generated", text_or(report.get("generated_at"), "not given")),
        (
            "Settings",
            "not given"
            if not settings
            else " · ".join(
                (
                    f"correction {'none' if correction is None else correction}",
                    f"alpha {stat(settings.get('alpha'))}",
                    f"drift share threshold {share(settings.get('drift_share_threshold'))}",
                )
            ),
        ),
    ]
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in facts)
    return f'<dl class="facts">{items}</dl>'


def _summary(windows: Sequence[Doc], alerts: object) -> str:
    """One line a reader can act on: drift, quality, alerts and performance, latest first."""
    items = []
    if not windows:
        items.append("No windows of current data.")
    else:
        latest = windows[-1]
        found = latest.get("drift")
        if isinstance(found, Mapping):
            dataset = found.get("dataset_drift")
            verdict = verdict_words(dataset, "dataset drift", "no dataset drift", "unknown")
            items.append(
                f"Latest window: {count(found.get('drifted'))} of "
                f"{count(found.get('columns_checked'))} columns drifted "
                f"({share(found.get('share'))}), {verdict}."
            )
        else:
            items.append("Latest window: no drift results.")
        prediction = latest.get("prediction_drift")
        if isinstance(prediction, Mapping):
            state = verdict_words(prediction.get("drift"), "drifted", "did not drift", "unknown")
            items.append(f"Prediction {text_or(prediction.get('column'), '')}: {state}.")
        quality = latest.get("quality")
        if isinstance(quality, Mapping):
            findings = [as_map(f) for f in as_list(quality.get("findings"))]
            critical = sum(f.get("severity") == "critical" for f in findings)
            items.append(f"{plural(len(findings), 'quality finding')} ({critical:,} critical).")
        performance = as_map(latest.get("performance"))
        metrics = as_map(performance.get("metrics"))
        if metrics:
            shown = ", ".join(f"{name} {stat(value)}" for name, value in metrics.items())
            items.append(f"Performance: {shown}.")
    if isinstance(alerts, list | tuple):
        open_alerts = sum(str(as_map(a).get("status", "")).upper() == "OPEN" for a in alerts)
        items.append(f"{plural(open_alerts, 'open alert')}.")
    lines = "".join(f"<li>{escape(item)}</li>" for item in items)
    return f'<ul class="summary" aria-label="Summary">{lines}</ul>'


def _windows(windows: Sequence[Doc], labels: Sequence[str]) -> str:
    if not windows:
        return section(
            "windows",
            "Windows",
            empty(
                "The report has no windows: there was no current data to compare with the "
                "reference, so the drift, quality, performance, fairness and outlier sections "
                "are empty."
            ),
        )
    rows = [
        tr(
            label,
            [
                raw(escape(text_or(w.get("start"), DASH))),
                raw(escape(text_or(w.get("end"), DASH))),
                cell(count(w.get("rows"))),
            ],
        )
        for label, w in zip(labels, windows, strict=True)
    ]
    return section(
        "windows",
        "Windows",
        "<p>Each window is a slice of current data, oldest first; charts name them W1, W2 "
        "and so on.</p>"
        + table(("window", "start", "end", "rows"), rows, "Windows of current data"),
    )
