"""The server-drawn graphs: columns by longest upstream path, boxes as links, text escaped."""

from __future__ import annotations

from kiln.server.ui import _bars, _dag


def test_a_step_sits_one_column_past_its_furthest_upstream_step() -> None:
    upstream = {"load": (), "clean": ("load",), "count": ("load", "clean"), "side": ()}
    assert _dag.layers_by_longest_path(upstream) == {"load": 0, "clean": 1, "count": 2, "side": 0}


def test_boxes_are_links_edges_are_drawn_and_text_is_escaped() -> None:
    columns = [
        [_dag.Box("a", "<load>", "succeeded", "#step-a", "status-succeeded")],
        [_dag.Box("b", "train", "paused", "#step-b", "status-paused", "paused: 2 checks")],
    ]
    svg = str(_dag.draw(columns, [("a", "b"), ("a", "gone")], "Steps & more"))
    assert 'aria-label="Steps &amp; more"' in svg
    assert svg.count("<a href=") == 2
    assert "&lt;load&gt;" in svg
    assert "<load>" not in svg
    assert svg.count("<path d=") == 2  # the arrowhead's and one edge: "gone" is not drawn
    assert "<title>train: paused: 2 checks</title>" in svg


def test_a_histogram_has_a_bar_per_bin_and_says_what_it_shows() -> None:
    svg = str(_bars.histogram([0.0, 1.0, 2.0, 3.0], [5, 0, 2], "amount"))
    assert 'aria-label="Histogram of amount: 3 bins from 0 to 3"' in svg
    assert svg.count("<rect") == 3
    assert _bars.histogram([0.0], [], "empty") == ""
