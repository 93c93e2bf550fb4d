"""Number formats and HTML pieces shared by the monitoring report page's modules.

The report document comes from JSON, so any field may be missing, null or of
an unexpected type; :func:`as_map`, :func:`as_list` and :func:`num` read it
without raising, and every formatter turns "undefined" into :data:`DASH`.
The formatters return plain text; the HTML builders escape what they are
given as text and take markup only where their parameter says ``html``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = [
    "DASH",
    "Doc",
    "as_list",
    "as_map",
    "badge",
    "cell",
    "count",
    "empty",
    "figure",
    "num",
    "p_value",
    "plural",
    "raw",
    "section",
    "severity",
    "share",
    "stat",
    "table",
    "text_or",
    "tr",
    "verdict_words",
]

#: What an undefined value looks like on the page.
DASH = "—"
#: The p-value below which the page switches to scientific notation.
SMALL_P = 0.001

Doc = Mapping[str, Any]


def as_map(value: object) -> Doc:
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def num(value: object) -> float | None:
    """A finite number as a float, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def text_or(value: object, default: str) -> str:
    return value if isinstance(value, str) and value else default


def stat(value: object) -> str:
    """A statistic or metric with four significant digits; counts keep their separators."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return DASH
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        return f"{value:.4g}"
    return str(value)


def count(value: object) -> str:
    """A count with thousands separators (a whole float counts too)."""
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return stat(value)


def plural(n: int, noun: str) -> str:
    """``"1 open alert"``, ``"2 open alerts"``: a count with its noun."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def p_value(value: object) -> str:
    """Three significant digits, or scientific notation below :data:`SMALL_P`."""
    number = num(value)
    if number is None:
        return stat(value)
    if number == 0:
        return "0"
    return f"{number:.2e}" if number < SMALL_P else f"{number:.3g}"


def share(value: object) -> str:
    """A proportion in [0, 1] as a percentage with three significant digits."""
    number = num(value)
    return stat(value) if number is None else f"{number * 100:.3g}%"


def badge(drift: object) -> str:
    """The drift verdict as a labelled pill: its word, not only its colour, says it."""
    if drift is True:
        return '<span class="verdict fail">drift</span>'
    if drift is False:
        return '<span class="verdict pass">no drift</span>'
    return '<span class="verdict unknown">unknown</span>'


def verdict_words(value: object, yes: str, no: str, unknown: str) -> str:
    """Words for a verdict that may be missing; only real booleans count (1 is not True)."""
    return yes if value is True else no if value is False else unknown


def severity(value: object) -> str:
    kind = {"critical": "fail", "warning": "warn"}.get(str(value), "unknown")
    return f'<span class="verdict {kind}">{escape(text_or(value, DASH))}</span>'


def cell(text: str) -> str:
    return f'<td class="num">{escape(text)}</td>'


def raw(html: str) -> str:
    return f"<td>{html}</td>"


def tr(header: str, cells: Sequence[str], *, column: str | None = None) -> str:
    """A row whose first cell is its header; ``column`` lets the page's filter find it."""
    attrs = "" if column is None else f' data-column="{escape(column)}"'
    return f'<tr{attrs}><th scope="row">{escape(header)}</th>{"".join(cells)}</tr>'


def table(head: Sequence[str], rows: Sequence[str], caption: str) -> str:
    heads = "".join(f'<th scope="col">{escape(name)}</th>' for name in head)
    return (
        f'<div class="scroll"><table><caption>{escape(caption)}</caption>'
        f"<thead><tr>{heads}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def section(key: str, title: str, html: str) -> str:
    return (
        f'<section id="{key}" aria-labelledby="{key}-h">'
        f'<h2 id="{key}-h">{escape(title)}</h2>{html}</section>\n'
    )


def empty(text: str) -> str:
    return f'<p class="empty">{escape(text)}</p>'


def figure(chart_html: str, caption: str, legend_html: str = "") -> str:
    """A chart with its caption; no chart (nothing to draw) gives a sentence instead."""
    if not chart_html:
        return empty(f"No values to chart. {caption}")
    return f"<figure>{chart_html}{legend_html}<figcaption>{escape(caption)}</figcaption></figure>"
