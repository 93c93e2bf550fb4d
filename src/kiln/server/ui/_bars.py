"""Small bar charts drawn on the server as inline SVG: a column's histogram, its top values.

A dataset version's page shows one per column, often dozens at once, so
they are plain ``<rect>`` elements (no plotly.js to load). Each chart is an
``img`` with a label that says what it shows, each bar has a tooltip with
its range and count, and the page's table holds the same numbers as text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

from kiln.server.ui._charts import PALETTE
from kiln.server.ui._templates import num

__all__ = ["histogram", "top_values"]

_WIDTH = 240
_HEIGHT = 64
_TOP_ROWS = 8
_ROW = 14


def histogram(edges: Sequence[float], counts: Sequence[int], label: str) -> Markup:
    """Equal-width bins side by side, heights proportional to their counts."""
    if not counts or len(edges) != len(counts) + 1:
        return Markup("")
    tallest = max(counts) or 1
    step = _WIDTH / len(counts)
    bars = []
    for index, count in enumerate(counts):
        height = max(count / tallest * (_HEIGHT - 2), 1 if count else 0)
        tip = f"{num(edges[index])} to {num(edges[index + 1])}: {count:,}"
        bars.append(
            f'<rect x="{index * step:.1f}" y="{_HEIGHT - height:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{height:.1f}"><title>{escape(tip)}</title>'
            "</rect>"
        )
    said = f"Histogram of {label}: {len(counts)} bins from {num(edges[0])} to {num(edges[-1])}"
    return Markup(
        f'<svg class="bars" role="img" aria-label="{escape(said)}" width="{_WIDTH}" '
        f'height="{_HEIGHT + 14}" viewBox="0 0 {_WIDTH} {_HEIGHT + 14}">'
        f'<g fill="{PALETTE[0]}">{"".join(bars)}</g>'
        f'<text x="0" y="{_HEIGHT + 12}" class="axis">{escape(num(edges[0]))}</text>'
        f'<text x="{_WIDTH}" y="{_HEIGHT + 12}" class="axis" text-anchor="end">'
        f"{escape(num(edges[-1]))}</text></svg>"
    )


def top_values(top: Sequence[tuple[Any, int]], other: int, label: str) -> Markup:
    """The most frequent values as horizontal bars, longest first, and how many others."""
    shown = list(top[:_TOP_ROWS])
    if not shown:
        return Markup("")
    rest = other + sum(count for _, count in top[_TOP_ROWS:])
    most = max(count for _, count in shown) or 1
    name_width = 90
    room = _WIDTH - name_width - 40
    rows = []
    for index, (value, count) in enumerate(shown):
        y = index * _ROW
        text = "null" if value is None else str(value)
        length = max(count / most * room, 1)
        rows.append(
            f'<text x="{name_width - 4}" y="{y + 11}" text-anchor="end" class="axis">'
            f"{escape(text if len(text) <= 14 else text[:13] + '…')}</text>"
            f'<rect x="{name_width}" y="{y + 2}" width="{length:.1f}" height="{_ROW - 4}">'
            f"<title>{escape(text)}: {count:,}</title></rect>"
            f'<text x="{name_width + length + 4:.1f}" y="{y + 11}" class="axis">{count:,}</text>'
        )
    height = len(shown) * _ROW + (_ROW if rest else 0) + 2
    if rest:
        rows.append(
            f'<text x="{name_width}" y="{len(shown) * _ROW + 11}" class="axis">'
            f"and {rest:,} others</text>"
        )
    said = f"Most frequent values of {label}: " + ", ".join(
        f"{'null' if value is None else value} ({count:,})" for value, count in shown
    )
    return Markup(
        f'<svg class="bars" role="img" aria-label="{escape(said)}" width="{_WIDTH}" '
        f'height="{height}" viewBox="0 0 {_WIDTH} {height}">'
        f'<g fill="{PALETTE[0]}">{"".join(rows)}</g></svg>'
    )
