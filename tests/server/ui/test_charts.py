"""Chart specs: min/max downsampling keeps what matters, specs are plain JSON for plotly.js."""

from __future__ import annotations

import json
import math
import random

import pytest

from kiln.errors import InvalidInput
from kiln.server.ui import _charts
from kiln.server.ui._charts import Dimension, Series, downsample_min_max


def _contrast_on_white(colour: str) -> float:
    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(int(colour[i : i + 2], 16) / 255) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return 1.05 / (luminance + 0.05)


def test_under_the_limit_nothing_changes() -> None:
    xs, ys = list(range(100)), [float(i) for i in range(100)]
    kept_xs, kept_ys, dropped = downsample_min_max(xs, ys, 100)
    assert (kept_xs, kept_ys, dropped) == (xs, ys, False)


@pytest.mark.parametrize("max_points", [4, 5, 100, 2000])
@pytest.mark.parametrize("count", [101, 2001, 50_000])
def test_downsampling_keeps_extremes_and_endpoints_within_the_limit(
    count: int, max_points: int
) -> None:
    rng = random.Random(count * max_points)
    ys: list[float | None] = [rng.gauss(0, 1) for _ in range(count)]
    ys[rng.randrange(1, count - 1)] = 1e6  # a spike
    ys[rng.randrange(1, count - 1)] = -1e6  # a collapse
    xs = list(range(count))
    kept_xs, kept_ys, dropped = downsample_min_max(xs, ys, max_points)
    if count <= max_points:
        assert not dropped
        return
    assert dropped
    assert len(kept_xs) == len(kept_ys) <= max_points
    assert (kept_xs[0], kept_xs[-1]) == (0, count - 1)
    assert (kept_ys[0], kept_ys[-1]) == (ys[0], ys[-1])
    assert max(y for y in kept_ys if y is not None) == 1e6
    assert min(y for y in kept_ys if y is not None) == -1e6
    assert kept_xs == sorted(kept_xs), "points stay in order"
    assert all(ys[int(x)] == y for x, y in zip(kept_xs, kept_ys, strict=True))


def test_extremes_at_the_ends_and_gaps_survive() -> None:
    ys: list[float | None] = [5.0, *([1.0] * 998), -5.0]
    for index in range(500, 600):
        ys[index] = math.nan
    ys[700] = None
    _, kept, _ = downsample_min_max(list(range(1000)), ys, 50)
    assert kept[0] == 5.0
    assert kept[-1] == -5.0
    assert any(y is not None and math.isnan(y) for y in kept), "an all-NaN bucket leaves a gap"


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(InvalidInput) as error:
        downsample_min_max([1, 2], [1.0], 10)
    assert error.value.field == "ys"
    with pytest.raises(InvalidInput) as error:
        downsample_min_max([1, 2, 3], [1.0, 2.0, 3.0], 3)
    assert error.value.field == "max_points"


def test_line_chart_is_json_with_a_note_only_when_downsampled() -> None:
    long = _charts.downsampled("long", list(range(10_000)), [float(i) for i in range(10_000)])
    short = Series("short", [0, 1, 2], [0.5, math.nan, math.inf])
    spec = _charts.line_chart([long, short], "loss", "step", "loss")
    json.dumps(spec, allow_nan=False)  # NaN and infinities became gaps (null)
    assert spec["note"] == "downsampled from 10,003 to 2,003 points, min/max kept"
    assert [trace["name"] for trace in spec["data"]] == ["long", "short"]
    assert spec["data"][1]["y"] == [0.5, None, None]
    assert spec["data"][0]["mode"] == "lines"
    assert spec["data"][1]["mode"] == "lines+markers", "a short series shows its points"
    assert spec["layout"]["xaxis"]["title"]["text"] == "step"
    plain = _charts.line_chart([short], "loss", "step", "loss")
    assert plain["note"] == ""


def test_colours_are_readable_and_lines_stay_apart_past_the_palette() -> None:
    assert all(_contrast_on_white(colour) >= 3 for colour in _charts.PALETTE)
    many = [Series(f"r{i}", [0, 1], [0.0, 1.0]) for i in range(len(_charts.PALETTE) + 1)]
    traces = _charts.line_chart(many, "t", "x", "y")["data"]
    assert traces[0]["line"]["color"] == traces[-1]["line"]["color"]
    assert traces[0]["line"]["dash"] != traces[-1]["line"]["dash"]


def test_parallel_coordinates_numbers_and_categories() -> None:
    spec = _charts.parallel_coordinates(
        ["a", "b", "c"],
        [
            Dimension("params.lr", ["0.1", "0.01", "1e-3"]),
            Dimension("params.model", ["xgb", "lgbm", "xgb"]),
            Dimension("params.depth", ["4", None, "10"]),
            Dimension("metrics.auc", [0.9, 0.9, 0.9]),
        ],
    )
    json.dumps(spec, allow_nan=False)
    trace = spec["data"][0]
    assert trace["type"] == "parcoords"
    runs, lr, model, depth, auc = trace["dimensions"]
    assert runs["ticktext"] == ["a", "b", "c"]
    assert lr["values"] == [0.1, 0.01, 0.001]
    assert "ticktext" not in lr
    assert model["ticktext"] == ["lgbm", "xgb"]
    assert model["values"] == [1, 0, 1]
    assert depth["ticktext"] == ["4", "10", "—"], "a missing value is its own category"
    assert auc["range"][0] < 0.9 < auc["range"][1], "a constant axis still has a range"
    assert trace["line"]["color"] == [0, 1, 2]
    with pytest.raises(InvalidInput):
        _charts.parallel_coordinates(["a"], [Dimension("x", [1.0, 2.0])])
