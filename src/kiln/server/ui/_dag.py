"""Graphs drawn on the server as inline SVG, in columns: a pipeline run's DAG, a lineage walk.

A graph is boxes placed in columns (layers) and arrows between them. For a
pipeline run, a step's column is the length of the longest path of
``upstream`` steps that leads to it (:func:`layers_by_longest_path`); for
lineage, it is the node's distance from the root. Every box is a link and
carries its facts as text (status, duration, "cached", "stale"), so colour
is never the only signal, and pages list the same links as text next to
the picture. No JavaScript and no chart library: ``<rect>``, ``<text>`` and
``<path>`` elements, styled by ``kiln.css`` through each box's classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

__all__ = ["Box", "draw", "layers_by_longest_path"]

_WIDTH = 190  # of a box
_HEIGHT = 52
_COLUMN_GAP = 48
_ROW_GAP = 12
_PAD = 8
_TOP = 24  # room for the column headings
_LABEL_CHARS = 22  # what fits a box in the page's font, bold; details are smaller
_DETAIL_CHARS = 27


@dataclass(frozen=True, slots=True)
class Box:
    """One node: ``id`` is what edges name; ``classes`` style it (``status-failed``, ``stale``)."""

    id: str
    label: str
    detail: str
    url: str
    classes: str = ""
    #: Said in the box's tooltip and to screen readers, after the label.
    description: str = ""


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def layers_by_longest_path(upstream: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each node's column: 0 without upstream nodes, else one past its furthest upstream node.

    ``upstream`` maps every node to the nodes it reads from; names not in the
    mapping are ignored (a DAG is assumed: the engine refuses cycles).
    """
    column: dict[str, int] = {}

    def place(node: str, trail: frozenset[str]) -> int:
        if node in column:
            return column[node]
        before = [up for up in upstream.get(node, ()) if up in upstream and up not in trail]
        column[node] = 1 + max((place(up, trail | {node}) for up in before), default=-1)
        return column[node]

    for node in upstream:
        place(node, frozenset())
    return column


def draw(
    columns: Sequence[Sequence[Box]],
    edges: Sequence[tuple[str, str]],
    title: str,
    *,
    headings: Sequence[str] | None = None,
) -> Markup:
    """The boxes of each column, top to bottom, and an arrow per ``(source, target)`` edge.

    Columns are centred vertically on the tallest one; edges whose ends are
    not drawn are left out. ``headings`` label the columns.
    """
    shown = [column for column in columns if column]
    tallest = max((len(column) for column in shown), default=1)
    height = _TOP + tallest * (_HEIGHT + _ROW_GAP) - _ROW_GAP + 2 * _PAD
    width = max(len(shown), 1) * (_WIDTH + _COLUMN_GAP) - _COLUMN_GAP + 2 * _PAD
    places: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    index = 0
    for position, column in enumerate(columns):
        if not column:
            continue
        x = _PAD + index * (_WIDTH + _COLUMN_GAP)
        index += 1
        if headings is not None and position < len(headings) and headings[position]:
            boxes.append(
                f'<text class="graph-heading" x="{x}" y="{_PAD + 10}">'
                f"{escape(headings[position])}</text>"
            )
        top = _PAD + _TOP + (tallest - len(column)) * (_HEIGHT + _ROW_GAP) / 2
        for row, box in enumerate(column):
            y = top + row * (_HEIGHT + _ROW_GAP)
            places[box.id] = (x, y)
            said = f"{box.label}: {box.description or box.detail}"
            boxes.append(
                f'<a href="{escape(box.url)}" class="graph-node {escape(box.classes)}">'
                f"<title>{escape(said)}</title>"
                f'<rect x="{x}" y="{y:.1f}" width="{_WIDTH}" height="{_HEIGHT}" rx="6"/>'
                f'<text x="{x + 10}" y="{y + 21:.1f}" class="label">'
                f"{escape(_short(box.label, _LABEL_CHARS))}</text>"
                f'<text x="{x + 10}" y="{y + 40:.1f}" class="detail">'
                f"{escape(_short(box.detail, _DETAIL_CHARS))}</text></a>"
            )
    lines = []
    for source, target in edges:
        if source not in places or target not in places:
            continue
        (x1, y1), (x2, y2) = places[source], places[target]
        if x2 > x1:  # left to right, the usual case
            x1, y1, y2 = x1 + _WIDTH, y1 + _HEIGHT / 2, y2 + _HEIGHT / 2
        else:  # same column or backwards (a lineage cross-link): bottom to top of the box
            x1, x2, y1 = x1 + _WIDTH / 2, x2 + _WIDTH / 2, y1 + _HEIGHT
        middle = (x1 + x2) / 2
        lines.append(
            f'<path d="M{x1:.1f},{y1:.1f} C{middle:.1f},{y1:.1f} {middle:.1f},{y2:.1f} '
            f'{x2:.1f},{y2:.1f}" marker-end="url(#graph-arrow)"/>'
        )
    return Markup(
        f'<svg class="graph" role="group" aria-label="{escape(title)}" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}">'
        '<defs><marker id="graph-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(lines)}</g>{"".join(boxes)}</svg>'
    )
