"""One self-contained HTML page for a :class:`~kiln.data.ValidationReport`.

Inline CSS, no scripts, no external links; drift checks get a small inline
SVG of the reference's and the current data's shares per bin. Failed checks
come first, then warnings, then the checks that passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.data._report import Check, ValidationReport

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem;
       color: #1f2328; }
h1 { font-size: 1.4rem; margin: 0 0 .25rem; }
.meta { color: #59636e; margin-bottom: 1rem; }
.verdict { display: inline-block; padding: .15rem .6rem; border-radius: 1rem; color: #fff;
           font-weight: 600; }
.pass { background: #1a7f37; } .fail { background: #cf222e; } .warn { background: #9a6700; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #d1d9e0;
         vertical-align: top; }
th { background: #f6f8fa; }
tr.failed td:first-child { border-left: 4px solid #cf222e; }
tr.warning td:first-child { border-left: 4px solid #9a6700; }
tr.passed td:first-child { border-left: 4px solid #1a7f37; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .2rem 0 .6rem;
               vertical-align: middle; }
svg { display: block; }
"""

_REFERENCE = "#8c959f"
_CURRENT = "#0969da"


def render(report: ValidationReport) -> str:
    subject = (
        f"{report.dataset}@{report.version}" if report.dataset is not None else "in-memory data"
    )
    failed, warned = report.failures, report.warnings
    passed = [check for check in report.checks if check.passed]
    verdict = (
        '<span class="verdict pass">passed</span>'
        if report.passed
        else f'<span class="verdict fail">failed: {len(failed)} checks</span>'
    )
    if warned:
        verdict += f' <span class="verdict warn">{len(warned)} warnings</span>'
    meta = [f"{report.num_rows:,} rows", f"validated {report.created_at:%Y-%m-%d %H:%M:%S} UTC"]
    if report.version_id:
        meta.append(f"version id {report.version_id[:12]}")
    if report.reference:
        meta.append(f"reference {report.reference}")
    rows = "\n".join(
        _row(check, status)
        for checks, status in ((failed, "failed"), (warned, "warning"), (passed, "passed"))
        for check in checks
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Validation of {escape(subject)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>Validation of {escape(subject)} {verdict}</h1>
<div class="meta">{escape(" · ".join(meta))}</div>
<div class="legend">Drift charts: <span style="background:{_REFERENCE}"></span>reference
<span style="background:{_CURRENT}"></span>current</div>
<table>
<thead><tr><th>status</th><th>check</th><th>column</th><th>observed</th><th>threshold</th>
<th>detail</th><th>distribution</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</body>
</html>
"""


def _row(check: Check, status: str) -> str:
    threshold = _text(check.threshold) + (" (learned)" if check.learned else "")
    chart = _chart(check.distribution) if check.distribution else ""
    return (
        f'<tr class="{status}"><td>{status}</td><td>{escape(check.name)}</td>'
        f"<td>{escape(check.column or '—')}</td>"
        f'<td class="num">{escape(_text(check.observed))}</td>'
        f'<td class="num">{escape(threshold)}</td>'
        f"<td>{escape(check.detail)}</td><td>{chart}</td></tr>"
    )


def _text(value: Any) -> str:
    if isinstance(value, float):
        return "∞" if math.isinf(value) else f"{value:.4g}"
    if value is None:
        return "—"
    return str(value)


def _chart(distribution: Mapping[str, Any]) -> str:
    """Side-by-side bars per bin: the reference's share in grey, the current share in blue."""
    labels: Sequence[str] = distribution.get("labels", ())
    reference: Sequence[float] = distribution.get("reference", ())
    current: Sequence[float] = distribution.get("current", ())
    if not labels or len(reference) != len(labels) or len(current) != len(labels):
        return ""
    height, bar, gap = 60, 5, 3
    width = len(labels) * (2 * bar + gap)
    top = max(max(reference), max(current), 1e-12)
    parts = []
    for index, label in enumerate(labels):
        x = index * (2 * bar + gap)
        pair = ((0, reference[index], _REFERENCE), (bar, current[index], _CURRENT))
        for offset, share, color in pair:
            h = max(share / top * height, 0.5 if share else 0.0)
            parts.append(
                f'<rect x="{x + offset}" y="{height - h:.2f}" width="{bar}" height="{h:.2f}" '
                f'fill="{color}"><title>{escape(str(label))}: {share:.1%}</title></rect>'
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="distribution">'
        + "".join(parts)
        + "</svg>"
    )
