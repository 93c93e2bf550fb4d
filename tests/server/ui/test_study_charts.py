"""A study's chart specs from hand-made summaries: best so far either way, non-finite values
left out, categories on their own axis, curves coloured by how trials ended, plain JSON."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime
from typing import Any

from kiln.server.ui import _study_charts as charts
from kiln.training._studies import StudySummary, TrialSummary


def _trial(number: int, values: list[float] | None, state: str = "COMPLETE", **extra: Any) -> Any:
    return TrialSummary(
        number=number,
        state=state,
        values=values,
        params=extra.pop("params", {"x": float(number), "kind": "ab"[number % 2]}),
        started_at=None,
        completed_at=None,
        run_id=f"run{number}",
        failure=None,
        retry_of=None,
        retried_by=None,
        **extra,
    )


def _study(trials: list[TrialSummary], directions: list[str]) -> StudySummary:
    return StudySummary(
        name="s",
        directions=directions,
        metric_names=None,
        parent_run_id=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        settings={"space": ["x", "kind"]},
        states={},
        best=[],
        trials=trials,
    )


def test_the_history_keeps_the_best_so_far_in_the_study_direction() -> None:
    trials = [_trial(0, [3.0]), _trial(1, [5.0]), _trial(2, None, "PRUNED"), _trial(3, [1.0])]
    down = charts.history_chart(_study(trials, ["minimize"]), 0, "loss", best_so_far=True)
    values, best = down["data"]
    assert (values["x"], values["y"]) == ([0, 1, 3], [3.0, 5.0, 1.0])
    assert best["y"] == [3.0, 3.0, 1.0]
    up = charts.history_chart(_study(trials, ["maximize"]), 0, "gain", best_so_far=True)
    assert up["data"][1]["y"] == [3.0, 5.0, 5.0]
    assert (
        len(charts.history_chart(_study(trials, ["minimize"]), 0, "l", best_so_far=False)["data"])
        == 1
    )
    json.dumps(down, allow_nan=False)


def test_values_that_are_not_finite_are_left_out() -> None:
    trials = [_trial(0, [math.nan]), _trial(1, [math.inf]), _trial(2, [2.0])]
    study = _study(trials, ["minimize"])
    assert [t.number for t in charts.completed(study)] == [2]
    (parallel,) = charts.parallel_chart(study, ["value"])["data"]
    assert [d["label"] for d in parallel["dimensions"]] == ["x", "kind", "value"]
    assert all(len(d["values"]) == 1 for d in parallel["dimensions"])
    json.dumps(charts.slice_charts(study, 0, "value"), allow_nan=False)


def test_a_slice_per_parameter_categories_on_a_category_axis() -> None:
    trials = [_trial(n, [float(n)]) for n in range(4)]
    slices = dict(charts.slice_charts(_study(trials, ["minimize"]), 0, "value"))
    assert list(slices) == ["x", "kind"]
    assert slices["kind"]["layout"]["xaxis"]["type"] == "category"
    assert slices["kind"]["data"][0]["x"] == ["a", "b", "a", "b"]
    assert "type" not in slices["x"]["layout"]["xaxis"]
    assert slices["x"]["data"][0]["marker"]["color"] == [0, 1, 2, 3]  # by trial number


def test_importances_put_the_largest_on_top() -> None:
    (bars,) = charts.importance_chart({"x": 0.7, "kind": 0.2, "y": 0.1}, "value")["data"]
    assert bars["y"] == ["y", "kind", "x"]
    assert bars["x"] == [0.1, 0.2, 0.7]


def test_intermediate_curves_by_state_one_legend_entry_each() -> None:
    trials = [
        _trial(0, [1.0], intermediate={0: 3.0, 1: 1.0}),
        _trial(1, None, "PRUNED", intermediate={0: 9.0}),
        _trial(2, [1.5], intermediate={0: 2.0, 1: math.nan}),
        _trial(3, [4.0]),
    ]
    spec = charts.intermediate_chart(_study(trials, ["minimize"]))
    assert spec is not None
    assert [(c["name"], c["showlegend"]) for c in spec["data"]] == [
        ("complete", True),
        ("pruned", True),
        ("complete", False),
    ]
    assert spec["data"][2]["y"] == [2.0, None]
    assert charts.intermediate_chart(_study(trials[3:], ["minimize"])) is None


def test_the_pareto_chart_marks_the_front() -> None:
    trials = [_trial(0, [1.0, 3.0]), _trial(1, [2.0, 2.0]), _trial(2, [3.0, 3.0])]
    study = _study(trials, ["minimize", "minimize"])
    study = dataclasses.replace(study, best=trials[:2])
    other, front = charts.pareto_chart(study, ["a", "b"])["data"]
    assert (other["x"], front["x"]) == ([3.0], [1.0, 2.0])
