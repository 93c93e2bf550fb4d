"""Inline SVG charts for the monitoring report page (:mod:`kiln.monitoring._report_html`).

Each chart is one ``<svg role="img">`` with an ``aria-label`` and a ``<title>``,
and every mark carries its own ``<title>`` so a pointer or a screen reader can
read the value. Series differ by more than colour: lines by marker shape and
dash, the reference distribution by a hatch pattern and a dark outline against
the current data's solid fill. Coordinates are printed with fixed precision so
that one report always gives the same bytes. Labels are escaped here, so
callers pass plain text. A chart with nothing to draw is the empty string; the
page then says why in words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape

__all__ = [
    "CURRENT",
    "REFERENCE_OUTLINE",
    "bar_chart",
    "category_chart",
    "defs",
    "histogram_chart",
    "line_chart",
    "line_legend",
    "reliability_chart",
    "swatch",
]

#: The current data's fill; 5.2:1 against white.
CURRENT = "#0969da"
#: The reference's outline and hatch; 15:1 against white.
REFERENCE_OUTLINE = "#1f2328"
HATCH = "url(#kiln-hatch)"
_INK, _MUTED, _GRID = "#1f2328", "#59636e", "#d1d9e0"
_PALETTE = ("#0969da", "#bc4c00", "#1a7f37", "#8250df", "#cf222e", "#59636e")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")
_MARKERS = ("circle", "square", "triangle", "diamond")

Value = float | None


def defs() -> str:
    """The hatch pattern, once per page, referenced by every reference series."""
    return (
        '<svg width="0" height="0" aria-hidden="true" focusable="false" '
        'style="position:absolute"><defs><pattern id="kiln-hatch" width="5" height="5" '
        'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="5" height="5" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="5" '
        f'stroke="{REFERENCE_OUTLINE}" stroke-width="1.6"/></pattern></defs></svg>'
    )


def swatch(series: str) -> str:
    """A legend square: ``"reference"`` hatched and outlined, ``"current"`` solid."""
    fill = HATCH if series == "reference" else CURRENT
    return (
        '<svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" focusable="false">'
        f'<rect x="1" y="1" width="12" height="12" fill="{fill}" '
        f'stroke="{REFERENCE_OUTLINE if series == "reference" else CURRENT}" '
        'stroke-width="1.5"/></svg>'
    )


def line_legend(names: Sequence[str]) -> str:
    """An HTML legend whose keys show each series' colour, dash and marker."""
    items = []
    for index, name in enumerate(names):
        color, dash, marker = _style(index)
        key = (
            '<svg width="30" height="12" viewBox="0 0 30 12" aria-hidden="true" focusable="false">'
            f'<line x1="1" y1="6" x2="29" y2="6" stroke="{color}" stroke-width="2"'
            f"{_dash_attr(dash)}/>{_marker(marker, 15, 6, color, '')}</svg>"
        )
        items.append(f"<li>{key} {escape(name)}</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def line_chart(
    x_labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[Value]]],
    *,
    label: str,
    y_range: tuple[float, float] | None = None,
    guide: tuple[str, float] | None = None,
    percent: bool = False,
    whole: bool = False,
    width: int = 480,
) -> str:
    """Lines of values over windows; a ``None`` value leaves a gap in its line.

    ``y_range`` is the least the axis shows (``(0, 0)`` keeps zero in view);
    ``whole`` makes the ticks whole numbers; ``width`` is the drawing's own
    width, narrower for charts laid out side by side so their text stays legible.
    """
    values = [v for _, vs in series for v in vs if v is not None and math.isfinite(v)]
    if not values or not x_labels:
        return ""
    height, left, right, top, bottom = 200, 48, 16, 12, 26
    lo, hi = min(values), max(values)
    if y_range is not None:
        lo, hi = min(lo, y_range[0]), max(hi, y_range[1])
    if guide is not None and _finite(guide[1]):
        lo, hi = min(lo, guide[1]), max(hi, guide[1])
    ticks = _ticks(lo, hi, whole=whole)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x_at(index: int) -> float:
        steps = max(len(x_labels) - 1, 1)
        return left + (plot_w / 2 if len(x_labels) == 1 else index * plot_w / steps)

    def y_at(value: float) -> float:
        return top + plot_h * (1 - (value - ticks[0]) / (ticks[-1] - ticks[0]))

    parts = _y_axis(ticks, left, width - right, y_at, percent)
    every = max(1, math.ceil(len(x_labels) / 12))
    for index, x_label in enumerate(x_labels):
        if index % every == 0 or index == len(x_labels) - 1:
            parts.append(_text(x_at(index), height - 8, x_label, anchor="middle"))
    if guide is not None and _finite(guide[1]):
        y = y_at(guide[1])
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{_MUTED}" stroke-width="1" stroke-dasharray="4 4"/>'
        )
        parts.append(_text(width - right, y - 4, guide[0], anchor="end"))
    lines, markers = [], []
    for number, (name, points) in enumerate(series):
        color, dash, marker = _style(number)
        runs: list[list[str]] = [[]]
        for index, value in enumerate(points[: len(x_labels)]):
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            x, y = x_at(index), y_at(value)
            runs[-1].append(f"{x:.1f},{y:.1f}")
            tip = f"{name}, {x_labels[index]}: {_tick_text(value, percent, digits=4)}"
            markers.append(_marker(marker, x, y, color, tip))
        lines += [
            f'<polyline points="{" ".join(run)}" fill="none" stroke="{color}" '
            f'stroke-width="2"{_dash_attr(dash)}/>'
            for run in runs
            if len(run) > 1
        ]
    return _svg(width, height, label, parts + lines + markers)


def histogram_chart(edges: Sequence[float], reference: Sequence[float], current: Sequence[float],
                    *, label: str) -> str:  # fmt: skip
    """Proportions per bin: current as solid bars, reference as a hatched, outlined step area."""
    if not current or len(edges) != len(current) + 1 or len(reference) != len(current):
        return ""
    width, height, left, right, top, bottom = 340, 170, 44, 10, 10, 26
    plot_w, plot_h = width - left - right, height - top - bottom
    ticks = _ticks(0.0, max(max(reference), max(current), 1e-12))
    bin_w = plot_w / len(current)

    def y_at(value: float) -> float:
        return top + plot_h * (1 - value / ticks[-1])

    parts = _y_axis(ticks, left, width - right, y_at, True)
    step = [f"{left:.1f},{y_at(0):.1f}"]
    for index, (ref, cur) in enumerate(zip(reference, current, strict=True)):
        x0 = left + index * bin_w
        parts.append(
            f'<rect x="{x0 + 0.5:.1f}" y="{y_at(cur):.1f}" width="{max(bin_w - 1, 0.5):.1f}" '
            f'height="{y_at(0) - y_at(cur):.1f}" fill="{CURRENT}" fill-opacity="0.8"/>'
        )
        step += [f"{x0:.1f},{y_at(ref):.1f}", f"{x0 + bin_w:.1f},{y_at(ref):.1f}"]
    step.append(f"{left + plot_w:.1f},{y_at(0):.1f}")
    parts.append(
        f'<polygon points="{" ".join(step)}" fill="{HATCH}" fill-opacity="0.45" '
        f'stroke="{REFERENCE_OUTLINE}" stroke-width="1.5"/>'
    )
    for index, (ref, cur) in enumerate(zip(reference, current, strict=True)):
        tip = (
            f"[{_short(edges[index])}, {_short(edges[index + 1])}): "
            f"reference {ref:.1%}, current {cur:.1%}"
        )
        parts.append(
            f'<rect x="{left + index * bin_w:.1f}" y="{top}" width="{bin_w:.1f}" '
            f'height="{plot_h}" fill="transparent"><title>{escape(tip)}</title></rect>'
        )
    for index in sorted({0, len(current) // 2, len(current)}):
        anchor = "start" if index == 0 else "end" if index == len(current) else "middle"
        parts.append(_text(left + index * bin_w, height - 8, _short(edges[index]), anchor=anchor))
    return _svg(width, height, label, parts)


def category_chart(values: Sequence[str], reference: Sequence[float], current: Sequence[float],
                   *, label: str) -> str:  # fmt: skip
    """Grouped horizontal bars per category, one row each, so long names stay readable."""
    if not values or len(reference) != len(values) or len(current) != len(values):
        return ""
    row, left, right, text_w = 22, 104, 8, 96
    width = 360
    height = row * len(values) + 6
    bar_w = width - left - right - text_w
    top = max(max(reference), max(current), 1e-12)
    parts = []
    for index, value in enumerate(values):
        y = 3 + index * row
        ref, cur = reference[index], current[index]
        name = value if len(value) <= 15 else value[:14] + "…"
        parts.append(_text(left - 6, y + 14, name, anchor="end"))
        parts.append(
            f'<rect x="{left}" y="{y + 2}" width="{max(ref / top * bar_w, 0.5):.1f}" height="8" '
            f'fill="{HATCH}" stroke="{REFERENCE_OUTLINE}" stroke-width="1"/>'
        )
        parts.append(
            f'<rect x="{left}" y="{y + 11}" width="{max(cur / top * bar_w, 0.5):.1f}" '
            f'height="8" fill="{CURRENT}"/>'
        )
        parts.append(_text(width - right, y + 14, f"{ref:.1%} → {cur:.1%}", anchor="end"))
        tip = f"{value}: reference {ref:.1%}, current {cur:.1%}"
        parts.append(
            f'<rect x="0" y="{y}" width="{width}" height="{row}" fill="transparent">'
            f"<title>{escape(tip)}</title></rect>"
        )
    return _svg(width, height, label, parts)


def reliability_chart(points: Sequence[tuple[float, float, str]], *, label: str) -> str:
    """Mean predicted probability against the observed positive fraction, with the diagonal."""
    if not points:
        return ""
    left, pad, plot = 52, 10, 200
    size = left + plot + pad

    def x_at(value: float) -> float:
        return left + plot * min(max(value, 0.0), 1.0)

    def y_at(value: float) -> float:
        return pad + plot * (1 - min(max(value, 0.0), 1.0))

    ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    parts = _y_axis(ticks, left, left + plot, y_at, False)
    parts += [_text(x_at(t), pad + plot + 15, f"{t:g}", anchor="middle") for t in ticks]
    parts.append(_text(left + plot / 2, pad + plot + 32, "mean predicted", anchor="middle"))
    parts.append(
        f'<text x="0" y="0" transform="translate(12 {pad + plot / 2}) rotate(-90)" '
        f'font-size="11" fill="{_MUTED}" text-anchor="middle">fraction positive</text>'
    )
    parts.append(
        f'<line x1="{x_at(0)}" y1="{y_at(0)}" x2="{x_at(1)}" y2="{y_at(1)}" stroke="{_MUTED}" '
        'stroke-width="1" stroke-dasharray="4 4"><title>perfect calibration</title></line>'
    )
    coords = " ".join(f"{x_at(x):.1f},{y_at(y):.1f}" for x, y, _ in points)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{CURRENT}" stroke-width="2"/>')
    parts += [_marker("circle", x_at(x), y_at(y), CURRENT, tip) for x, y, tip in points]
    return _svg(size, pad + plot + 40, label, parts, kind="chart square")


def bar_chart(items: Sequence[tuple[str, float, Value]], *, label: str) -> str:
    """Horizontal bars from zero, one per item, with an optional ± error whisker."""
    if not items:
        return ""
    row, left, right, text_w, width = 22, 140, 8, 64, 480
    spans = [(v - (e or 0.0), v + (e or 0.0)) for _, v, e in items]
    lo = min(0.0, *(a for a, _ in spans))
    hi = max(0.0, *(b for _, b in spans))
    hi = hi if hi > lo else lo + 1.0
    bar_w = width - left - right - text_w

    def x_at(value: float) -> float:
        return left + bar_w * (value - lo) / (hi - lo)

    height = row * len(items) + 6
    parts = [
        f'<line x1="{x_at(0):.1f}" y1="0" x2="{x_at(0):.1f}" y2="{height}" stroke="{_MUTED}"/>'
    ]
    for index, (name, value, error) in enumerate(items):
        y = 3 + index * row
        short = name if len(name) <= 20 else name[:19] + "…"
        parts.append(_text(left - 6, y + 14, short, anchor="end"))
        x0, x1 = sorted((x_at(0), x_at(value)))
        tip = f"{name}: {value:.4g}" + (f" ± {error:.2g}" if error else "")
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 4}" width="{max(x1 - x0, 0.5):.1f}" height="13" '
            f'fill="{CURRENT}"><title>{escape(tip)}</title></rect>'
        )
        if error:
            a, b = x_at(value - error), x_at(value + error)
            parts.append(
                f'<path d="M{a:.1f},{y + 10.5}H{b:.1f}M{a:.1f},{y + 6}V{y + 15}M{b:.1f},{y + 6}'
                f'V{y + 15}" stroke="{_INK}" stroke-width="1.2" fill="none"/>'
            )
        parts.append(_text(width - right, y + 14, f"{value:.3g}", anchor="end"))
    return _svg(width, height, label, parts)


def _svg(
    width: float, height: float, label: str, parts: Sequence[str], *, kind: str = "chart"
) -> str:
    text = escape(label)
    return (
        f'<svg class="{kind}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{text}">'
        f"<title>{text}</title>" + "".join(parts) + "</svg>"
    )


def _y_axis(
    ticks: Sequence[float], x0: float, x1: float, y_at: Callable[[float], float], percent: bool
) -> list[str]:
    parts = []
    for tick in ticks:
        y = y_at(tick)
        parts.append(
            f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="{_GRID}" '
            'stroke-width="1"/>'
        )
        parts.append(_text(x0 - 5, y + 4, _tick_text(tick, percent), anchor="end"))
    return parts


def _ticks(lo: float, hi: float, *, whole: bool = False, count: int = 4) -> list[float]:
    """Round tick values covering ``[lo, hi]``: steps of 1, 2, 2.5 or 5 times a power of ten.

    ``whole`` keeps steps at 1 or more, for counts that have no halves.
    """
    span = hi - lo or abs(hi) or 1.0
    raw = span / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    if whole:
        step = max(round(step), 1)
    start = math.floor(lo / step + 1e-9) * step
    stop = math.ceil(hi / step - 1e-9) * step
    if stop <= start:
        stop = start + step
    return [start + i * step for i in range(round((stop - start) / step) + 1)]


def _tick_text(value: float, percent: bool, digits: int = 3) -> str:
    text = f"{value * 100:.{digits}g}%" if percent else f"{value:.{digits}g}"
    return "0" if text in ("-0", "-0%") else text


def _short(value: float) -> str:
    return f"{value:.3g}"


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _style(index: int) -> tuple[str, str, str]:
    return (
        _PALETTE[index % len(_PALETTE)],
        _DASHES[index % len(_DASHES)],
        _MARKERS[index % len(_MARKERS)],
    )


def _dash_attr(dash: str) -> str:
    return f' stroke-dasharray="{dash}"' if dash else ""


def _marker(kind: str, x: float, y: float, color: str, tip: str) -> str:
    title = f"<title>{escape(tip)}</title>" if tip else ""
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}">{title}</circle>'
    if kind == "square":
        return (
            f'<rect x="{x - 3.2:.1f}" y="{y - 3.2:.1f}" width="6.4" height="6.4" '
            f'fill="{color}">{title}</rect>'
        )
    shape = (
        f"M{x:.1f},{y - 4.5:.1f}L{x + 4.2:.1f},{y + 3.2:.1f}L{x - 4.2:.1f},{y + 3.2:.1f}Z"
        if kind == "triangle"
        else f"M{x:.1f},{y - 4.8:.1f}L{x + 4.8:.1f},{y:.1f}L{x:.1f},{y + 4.8:.1f}"
        f"L{x - 4.8:.1f},{y:.1f}Z"
    )
    return f'<path d="{shape}" fill="{color}">{title}</path>'


def _text(x: float, y: float, text: str, *, anchor: str = "start") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="11" fill="{_MUTED}" '
        f'text-anchor="{anchor}">{escape(text)}</text>'
    )
