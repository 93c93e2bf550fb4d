"""Figure specs for plotly.js: plain dicts, built without importing plotly.

A page passes a spec to the ``chart`` macro, which embeds it as JSON for
``kiln.js`` to draw (``{data, layout, note}``); importing plotly in the server
would cost seconds and draw nothing. Colours meet 3:1 contrast on white (WCAG
non-text contrast) and repeat with another dash pattern past the palette, so
lines stay apart without relying on colour alone.

Long metric histories are cut with :func:`downsample_min_max`, which keeps
each bucket's lowest and highest point: a spike or a collapse in a million
points still shows in 2,000.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kiln.errors import InvalidInput

#: Line colours, each at least 3:1 against white (Okabe-Ito, darkened where needed).
PALETTE: tuple[str, ...] = (
    "#0072b2",
    "#d55e00",
    "#007a5a",
    "#a8457f",
    "#806600",
    "#5b3fa8",
    "#1c1917",
    "#b8322f",
    "#2f6f8f",
    "#6b6b00",
)
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot")
#: Histories up to this many points are drawn whole.
MAX_POINTS = 2000
#: Series this short get markers too (a single point draws no line).
MARKERS_UP_TO = 60
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "color": "#1c1917"}
_GRID = "#e7e5e4"


@dataclass(frozen=True, slots=True)
class Series:
    """One line: ``ys`` may hold None or NaN (drawn as a gap).

    ``total`` is the number of points before downsampling (None: all are here).
    """

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Dimension:
    """An axis of a parallel-coordinates chart: a value per line (None: missing)."""

    label: str
    values: Sequence[float | str | None]


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def dash(index: int) -> str:
    return DASHES[(index // len(PALETTE)) % len(DASHES)]


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def downsample_min_max(
    xs: Sequence[float], ys: Sequence[float | None], max_points: int = MAX_POINTS
) -> tuple[list[float], list[float | None], bool]:
    """At most ``max_points`` points that keep the shape: first, last, each bucket's min and max.

    The points between the first and the last are cut into equal runs (by
    position); each keeps its lowest and highest finite value, in order, so
    the global minimum and maximum always survive. A bucket with no finite
    value keeps its first point (the gap stays visible). Returns the points
    and whether any were dropped; histories within the limit come back whole.
    """
    if len(xs) != len(ys):
        raise InvalidInput(f"{len(xs)} x values but {len(ys)} y values", field="ys")
    if not isinstance(max_points, int) or isinstance(max_points, bool) or max_points < 4:
        raise InvalidInput(
            f"max_points must be at least 4 (first, last, a min and a max), got {max_points!r}",
            field="max_points",
        )
    count = len(xs)
    if count <= max_points:
        return list(xs), list(ys), False
    buckets = (max_points - 2) // 2
    inner = count - 2
    keep = [0]
    for bucket in range(buckets):
        start = 1 + bucket * inner // buckets
        stop = 1 + (bucket + 1) * inner // buckets
        low = high = -1
        low_value = high_value = 0.0
        for index in range(start, stop):
            value = ys[index]
            if value is None or not math.isfinite(value):
                continue
            if low < 0 or value < low_value:
                low, low_value = index, value
            if high < 0 or value > high_value:
                high, high_value = index, value
        if low < 0:
            keep.append(start)
        else:
            keep.extend(sorted({low, high}))
    keep.append(count - 1)
    return [xs[i] for i in keep], [ys[i] for i in keep], True


def downsampled(
    name: str, xs: Sequence[float], ys: Sequence[float | None], max_points: int = MAX_POINTS
) -> Series:
    """A :class:`Series` of at most ``max_points`` points, remembering how many there were."""
    kept_xs, kept_ys, dropped = downsample_min_max(xs, ys, max_points)
    return Series(name, kept_xs, kept_ys, len(xs) if dropped else None)


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}},
        "font": _FONT,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 56, "r": 16, "t": 40, "b": 48},
        **extra,
    }


def _axis(title: str) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "gridcolor": _GRID,
        "zerolinecolor": "#a8a29e",
        "linecolor": "#57534e",
        "automargin": True,
    }


def line_chart(series: Sequence[Series], title: str, x_title: str, y_title: str) -> dict[str, Any]:
    """One line per series; the note says how many points downsampling left out, if any."""
    data = []
    for index, line in enumerate(series):
        ys = [y if _finite(y) else None for y in line.ys]
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if len(line.xs) <= MARKERS_UP_TO else "lines",
                "name": line.name,
                "x": list(line.xs),
                "y": ys,
                "line": {"color": colour(index), "dash": dash(index), "width": 2},
                "marker": {"color": colour(index), "size": 7},
            }
        )
    note = ""
    if any(line.total is not None for line in series):
        before = sum(line.total if line.total is not None else len(line.xs) for line in series)
        after = sum(len(line.xs) for line in series)
        note = f"downsampled from {before:,} to {after:,} points, min/max kept"
    layout = _layout(
        title,
        xaxis=_axis(x_title),
        yaxis=_axis(y_title),
        hovermode="closest",
        showlegend=True,
        legend={"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top"},
    )
    layout["margin"]["b"] = 84
    return {"data": data, "layout": layout, "note": note}


def _number(value: float | str | None) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _category_order(values: set[str]) -> list[str]:
    """Numbers first, in numeric order (``2`` before ``10``), then text in code-point order."""

    def key(value: str) -> tuple[int, float, str]:
        number = _number(value)
        return (0, number, value) if number is not None else (1, 0.0, value)

    return sorted(values, key=key)


def _short(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _dimension(axis: Dimension) -> dict[str, Any]:
    """Numbers when every line has a finite number; else categories ("—" for missing)."""
    numbers = [_number(value) for value in axis.values]
    if axis.values and all(number is not None for number in numbers):
        finite = [number for number in numbers if number is not None]
        low, high = min(finite), max(finite)
        if low == high:
            pad = abs(low) * 0.1 or 1.0
            low, high = low - pad, high + pad
        return {"label": axis.label, "values": finite, "range": [low, high]}
    texts = ["—" if value is None else str(value) for value in axis.values]
    order = _category_order(set(texts))
    position = {text: index for index, text in enumerate(order)}
    return {
        "label": axis.label,
        "values": [position[text] for text in texts],
        "tickvals": list(range(len(order))),
        "ticktext": [_short(text) for text in order],
        "range": [0, max(len(order) - 1, 1)],
    }


def parallel_coordinates(
    names: Sequence[str], dimensions: Sequence[Dimension], title: str = ""
) -> dict[str, Any]:
    """One line per name (coloured as in :func:`line_chart`), one axis per dimension.

    The first axis lists the names, so each line can be told apart without a
    legend (plotly's parallel coordinates have none).
    """
    count = len(names)
    for axis in dimensions:
        if len(axis.values) != count:
            raise InvalidInput(
                f"dimension {axis.label!r} has {len(axis.values)} values for {count} lines",
                field="dimensions",
            )
    runs = {
        "label": "run",
        "values": list(range(count)),
        "tickvals": list(range(count)),
        "ticktext": [_short(name) for name in names],
        "range": [0, max(count - 1, 1)],
    }
    if count > 1:
        scale = [[index / (count - 1), colour(index)] for index in range(count)]
    else:
        scale = [[0, colour(0)], [1, colour(0)]]
    line: dict[str, Any] = {"color": list(range(count)), "colorscale": scale, "cmin": 0}
    if count > 1:
        line["cmax"] = count - 1
    data = [
        {
            "type": "parcoords",
            "line": line,
            "dimensions": [runs, *(_dimension(axis) for axis in dimensions)],
            "labelangle": -20,
            "labelside": "top",
        }
    ]
    layout = _layout(title)
    longest = max((len(_short(name)) for name in names), default=4)
    layout["margin"] = {"l": min(24 + 7 * longest, 190), "r": 64, "t": 96 if title else 72, "b": 32}
    return {"data": data, "layout": layout, "note": ""}
