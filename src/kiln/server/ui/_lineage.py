"""A small lineage diagram drawn on the server as inline SVG: inputs → run → outputs.

Columns left to right: the datasets a run read, the run, the models it
logged, and the registry versions made from them (with their aliases). Every
box is a link; the page lists the same links as text next to the picture, so
nothing depends on reading the drawing. No JavaScript and no chart library:
the picture is a handful of ``<rect>``, ``<text>`` and ``<path>`` elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from markupsafe import Markup, escape

__all__ = ["Lineage", "LineageNode", "draw"]

_WIDTH = 200  # of a box
_HEIGHT = 46
_COLUMN_GAP = 56
_ROW_GAP = 14
_PAD = 8
_LABEL_CHARS = 23  # what fits a box in the page's font, bold; details are smaller
_COLUMNS = ("dataset", "run", "model", "version")
_HEADINGS = {"dataset": "Datasets", "run": "Run", "model": "Logged models", "version": "Versions"}


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One box: ``kind`` is its column; ``id`` is what edges refer to."""

    id: str
    kind: str
    label: str
    detail: str
    url: str


@dataclass(slots=True)
class Lineage:
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def add(self, node: LineageNode, *, after: str | None = None) -> None:
        self.nodes.append(node)
        if after is not None:
            self.edges.append((after, node.id))

    def column(self, kind: str) -> list[LineageNode]:
        return [node for node in self.nodes if node.kind == kind]


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def draw(lineage: Lineage, title: str) -> Markup:
    """``lineage`` as an ``<svg>`` element (columns without nodes are left out)."""
    columns = [kind for kind in _COLUMNS if lineage.column(kind)]
    tallest = max((len(lineage.column(kind)) for kind in columns), default=1)
    height = 24 + tallest * (_HEIGHT + _ROW_GAP) + _PAD
    width = len(columns) * (_WIDTH + _COLUMN_GAP) - _COLUMN_GAP + 2 * _PAD
    places: dict[str, tuple[float, float]] = {}
    boxes: list[str] = []
    for index, kind in enumerate(columns):
        x = _PAD + index * (_WIDTH + _COLUMN_GAP)
        nodes = lineage.column(kind)
        top = 24 + (tallest - len(nodes)) * (_HEIGHT + _ROW_GAP) / 2
        boxes.append(
            f'<text class="lineage-heading" x="{x}" y="14">{escape(_HEADINGS[kind])}</text>'
        )
        for row, node in enumerate(nodes):
            y = top + row * (_HEIGHT + _ROW_GAP)
            places[node.id] = (x, y)
            boxes.append(
                f'<a href="{escape(node.url)}" class="lineage-node {kind}">'
                f"<title>{escape(node.label)} ({escape(node.detail)})</title>"
                f'<rect x="{x}" y="{y:.1f}" width="{_WIDTH}" height="{_HEIGHT}" rx="6"/>'
                f'<text x="{x + 10}" y="{y + 19:.1f}" class="label">{escape(_short(node.label))}'
                f"</text>"
                f'<text x="{x + 10}" y="{y + 36:.1f}" class="detail">'
                f"{escape(_short(node.detail, _LABEL_CHARS + 3))}</text></a>"
            )
    lines = []
    for source, target in lineage.edges:
        if source not in places or target not in places:
            continue
        (x1, y1), (x2, y2) = places[source], places[target]
        x1, y1, y2 = x1 + _WIDTH, y1 + _HEIGHT / 2, y2 + _HEIGHT / 2
        middle = (x1 + x2) / 2
        lines.append(
            f'<path d="M{x1},{y1:.1f} C{middle},{y1:.1f} {middle},{y2:.1f} {x2},{y2:.1f}" '
            'marker-end="url(#lineage-arrow)"/>'
        )
    return Markup(
        f'<svg class="lineage" role="group" aria-label="{escape(title)}" width="{width}" '
        f'height="{height:.0f}" viewBox="0 0 {width} {height:.0f}">'
        '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(lines)}</g>{"".join(boxes)}</svg>'
    )
