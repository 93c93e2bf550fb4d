"""Figure specs of a study's page: history, parallel coordinates, slices, importances, curves.

The same ``{data, layout, note}`` dicts as :mod:`kiln.server.ui._charts`
(drawn by ``kiln.js``, no plotly import on the server), built from a
:class:`~kiln.training.StudySummary` as stored: the plots Optuna draws in the
study's report, here from the trials the page already read. Values that are
not finite (a diverged trial) are left out of each plot rather than
stretching its axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kiln.server.ui._charts import PALETTE, Dimension, _axis, _dimension, _layout, colour

if TYPE_CHECKING:
    from kiln.training._studies import StudySummary, TrialSummary

__all__ = [
    "completed",
    "history_chart",
    "importance_chart",
    "intermediate_chart",
    "parallel_chart",
    "param_names",
    "pareto_chart",
    "slice_charts",
]

#: Curves of intermediate values drawn at most (the newest trials'); the note says so.
MAX_CURVES = 200
#: A sequential colour scale for "which trial / how good" (dark to light, colour-blind safe).
_SCALE = "Viridis"
_STATE_COLOURS = {"COMPLETE": PALETTE[0], "PRUNED": PALETTE[1], "FAIL": PALETTE[7]}


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def completed(summary: StudySummary, objective: int = 0) -> list[TrialSummary]:
    """Complete trials whose value for ``objective`` is a finite number, in trial order."""
    return [
        t
        for t in summary.trials
        if t.state == "COMPLETE"
        and t.values is not None
        and len(t.values) > objective
        and _finite(t.values[objective])
    ]


def _value(trial: TrialSummary, objective: int) -> float:
    assert trial.values is not None
    return trial.values[objective]


def _hover(trial: TrialSummary) -> str:
    params = "<br>".join(f"{name} = {_short(value)}" for name, value in trial.params.items())
    return f"trial {trial.number}" + (f"<br>{params}" if params else "")


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _legend_below(layout: dict[str, Any]) -> dict[str, Any]:
    layout["showlegend"] = True
    layout["legend"] = {"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top"}
    layout["margin"]["b"] = 84
    return layout


def history_chart(
    summary: StudySummary, objective: int, label: str, *, best_so_far: bool
) -> dict[str, Any]:
    """Each complete trial's value by trial number, and (one direction) the best so far."""
    done = completed(summary, objective)
    data: list[dict[str, Any]] = [
        {
            "type": "scatter",
            "mode": "markers",
            "name": label,
            "x": [t.number for t in done],
            "y": [_value(t, objective) for t in done],
            "text": [_hover(t) for t in done],
            "hovertemplate": "%{text}<br>" + label + " = %{y}<extra></extra>",
            "marker": {"color": colour(0), "size": 8},
        }
    ]
    if best_so_far and done:
        better = min if summary.directions[objective] == "minimize" else max
        running: list[float] = []
        for trial in done:
            value = _value(trial, objective)
            running.append(value if not running else better(running[-1], value))
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best so far",
                "x": [t.number for t in done],
                "y": running,
                "line": {"color": colour(1), "width": 2, "shape": "hv"},
                "hoverinfo": "skip",
            }
        )
    layout = _legend_below(
        _layout(
            f"Optimization history: {label}",
            xaxis=_axis("trial"),
            yaxis=_axis(label),
            hovermode="closest",
        )
    )
    return {"data": data, "layout": layout, "note": ""}


def param_names(summary: StudySummary) -> list[str]:
    space = summary.settings.get("space")
    if isinstance(space, list) and space:
        return [str(name) for name in space]
    return sorted({name for trial in summary.trials for name in trial.params})


def parallel_chart(summary: StudySummary, labels: Sequence[str]) -> dict[str, Any]:
    """One line per complete trial across every parameter and objective, coloured by the first."""
    done = completed(summary, 0)
    done = [t for t in done if all(_finite(v) for v in t.values or [])]
    axes = [Dimension(name, [t.params.get(name) for t in done]) for name in param_names(summary)]
    axes += [
        Dimension(label, [_value(t, index) for t in done]) for index, label in enumerate(labels)
    ]
    values = [_value(t, 0) for t in done]
    data = [
        {
            "type": "parcoords",
            "line": {
                "color": values,
                "colorscale": _SCALE,
                "reversescale": summary.directions[0] == "maximize",
                "showscale": True,
                "colorbar": {"title": {"text": labels[0]}, "thickness": 12},
            },
            "dimensions": [_dimension(axis) for axis in axes],
            "labelangle": -20,
            "labelside": "top",
        }
    ]
    layout = _layout("")
    layout["margin"] = {"l": 64, "r": 96, "t": 72, "b": 32}
    return {"data": data, "layout": layout, "note": ""}


def slice_charts(summary: StudySummary, objective: int, label: str) -> list[tuple[str, Any]]:
    """``(parameter, spec)``: the objective against each parameter's value, coloured by trial."""
    done = completed(summary, objective)
    charts = []
    for name in param_names(summary):
        shown = [t for t in done if name in t.params]
        xs = [t.params[name] for t in shown]
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
        xaxis = _axis(name)
        if not numeric:
            xaxis |= {"type": "category", "categoryorder": "category ascending"}
            xs = [str(x) for x in xs]
        data = [
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": xs,
                "y": [_value(t, objective) for t in shown],
                "text": [_hover(t) for t in shown],
                "hovertemplate": "%{text}<br>" + label + " = %{y}<extra></extra>",
                "marker": {
                    "size": 8,
                    "color": [t.number for t in shown],
                    "colorscale": _SCALE,
                    "showscale": True,
                    "colorbar": {"title": {"text": "trial"}, "thickness": 10},
                    "line": {"color": "#57534e", "width": 0.5},
                },
            }
        ]
        layout = _layout(f"{label} by {name}", xaxis=xaxis, yaxis=_axis(label))
        layout["hovermode"] = "closest"
        charts.append((name, {"data": data, "layout": layout, "note": ""}))
    return charts


def importance_chart(shares: dict[str, float], label: str) -> dict[str, Any]:
    """Horizontal bars, the most important parameter on top."""
    items = [(name, share) for name, share in shares.items() if _finite(share)]
    items.reverse()  # plotly draws the first category at the bottom
    data = [
        {
            "type": "bar",
            "orientation": "h",
            "name": label,
            "x": [share for _, share in items],
            "y": [name for name, _ in items],
            "text": [f"{share:.3f}" for _, share in items],
            "textposition": "auto",
            "marker": {"color": colour(0)},
            "hovertemplate": "%{y}: %{x:.4f}<extra></extra>",
        }
    ]
    layout = _layout(
        f"Parameter importances: {label}",
        xaxis=_axis("share of the variation explained") | {"range": [0, 1]},
        yaxis=_axis("") | {"automargin": True},
        showlegend=False,
    )
    return {"data": data, "layout": layout, "note": ""}


def intermediate_chart(summary: StudySummary) -> dict[str, Any] | None:
    """The values each trial reported by step, coloured by how the trial ended; None if none did."""
    reported = [t for t in summary.trials if t.intermediate]
    if not reported:
        return None
    shown = reported[-MAX_CURVES:]
    data = []
    seen: set[str] = set()
    for trial in shown:
        steps = sorted(trial.intermediate)
        ys = [trial.intermediate[s] for s in steps]
        state = trial.state
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers" if len(steps) <= 2 else "lines",
                "name": state.lower(),
                "legendgroup": state,
                "showlegend": state not in seen,
                "x": steps,
                "y": [y if _finite(y) else None for y in ys],
                "line": {
                    "color": _STATE_COLOURS.get(state, PALETTE[6]),
                    "dash": "solid" if state == "COMPLETE" else "dash",
                    "width": 1.5,
                },
                "hovertemplate": f"trial {trial.number} ({state.lower()})<br>step %{{x}}: "
                "%{y}<extra></extra>",
            }
        )
        seen.add(state)
    note = ""
    if len(reported) > len(shown):
        note = f"the newest {len(shown):,} of {len(reported):,} trials' curves"
    layout = _legend_below(
        _layout(
            "Intermediate values",
            xaxis=_axis("step"),
            yaxis=_axis("reported value"),
            hovermode="closest",
        )
    )
    return {"data": data, "layout": layout, "note": note}


def pareto_chart(summary: StudySummary, labels: Sequence[str]) -> dict[str, Any]:
    """The first two objectives of every complete trial, the Pareto front marked."""
    front = {t.number for t in summary.best}
    done = [
        t
        for t in completed(summary, 0)
        if t.values is not None and len(t.values) > 1 and _finite(t.values[1])
    ]
    data = []
    for index, (name, members) in enumerate(
        (
            ("other trials", [t for t in done if t.number not in front]),
            ("Pareto front", [t for t in done if t.number in front]),
        )
    ):
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": name,
                "x": [_value(t, 0) for t in members],
                "y": [_value(t, 1) for t in members],
                "text": [_hover(t) for t in members],
                "hovertemplate": "%{text}<br>"
                + f"{labels[0]} = %{{x}}<br>{labels[1]} = %{{y}}<extra></extra>",
                "marker": {
                    "color": PALETTE[6] if index == 0 else colour(1),
                    "size": 7 if index == 0 else 10,
                    "symbol": "circle-open" if index == 0 else "diamond",
                },
            }
        )
    layout = _legend_below(
        _layout(
            f"Pareto front: {labels[0]} and {labels[1]}",
            xaxis=_axis(labels[0]),
            yaxis=_axis(labels[1]),
            hovermode="closest",
        )
    )
    return {"data": data, "layout": layout, "note": ""}
