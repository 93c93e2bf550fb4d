"""A study's report: Optuna's plots and the trials, in one self-contained HTML page.

The plots are Optuna's own (optimization history, parallel coordinates,
slices, importances), drawn by plotly.js embedded once in the page, so
the file opens anywhere, offline, with nothing beside it.
"""

from __future__ import annotations

import html
import logging
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from kiln.training._studies import StudySummary

__all__ = ["importances", "plot_figures", "render_report"]

_log = logging.getLogger("kiln.training")


def _target(study: optuna.Study, objective: int) -> Any:
    if len(study.directions) == 1:
        return None
    return lambda trial: trial.values[objective]


def importances(study: optuna.Study, objective: int = 0) -> dict[str, float]:
    """Parameter importances for one objective; empty when there is too little to tell."""
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or not any(t.params for t in complete):
        return {}
    try:
        import sklearn  # noqa: F401  (fANOVA's forest)

        evaluator = None
    except ImportError:
        evaluator = PedAnovaImportanceEvaluator()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = get_param_importances(
                study, evaluator=evaluator, target=_target(study, objective)
            )
    except (RuntimeError, ValueError) as exc:  # e.g. every trial has the same value
        _log.info("no importances for study %r: %s", study.study_name, exc)
        return {}
    return {name: float(share) for name, share in found.items()}


def plot_figures(study: optuna.Study) -> dict[str, Any]:
    """Optuna's plotly figures of ``study`` by title (those its trials can draw)."""
    from optuna import visualization as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return {}
    target = _target(study, 0)
    label = (study.metric_names or ["Objective value"])[0]
    makers: dict[str, Callable[[], Any]] = {
        "Optimization history": lambda: vis.plot_optimization_history(
            study, target=target, target_name=label
        ),
        "Parallel coordinates": lambda: vis.plot_parallel_coordinate(
            study, target=target, target_name=label
        ),
        "Slices": lambda: vis.plot_slice(study, target=target, target_name=label),
        "Parameter importances": lambda: vis.plot_param_importances(study, target=target),
    }
    if len(study.directions) > 1:
        makers["Pareto front"] = lambda: vis.plot_pareto_front(study)
    figures = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for title, make in makers.items():
            try:
                figures[title] = make()
            except (RuntimeError, ValueError) as exc:  # too few trials for this plot
                _log.info("no %s plot for study %r: %s", title, study.study_name, exc)
    return figures


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return html.escape(str(value))


def _trials_table(summary: StudySummary) -> str:
    params = sorted({name for trial in summary.trials for name in trial.params})
    head = "".join(
        f"<th scope='col'>{html.escape(h)}</th>"
        for h in ["trial", "state", "value(s)", "duration (s)", *params]
    )
    rows = []
    for trial in summary.trials:
        values = ", ".join(_cell(v) for v in trial.values or [])
        duration = "" if trial.duration_s is None else f"{trial.duration_s:.2f}"
        cells = [str(trial.number), trial.state, values, duration]
        cells += [_cell(trial.params.get(name, "")) for name in params]
        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _best(summary: StudySummary) -> str:
    if not summary.best:
        return "<p>No trial completed.</p>"
    items = []
    for trial in summary.best:
        values = ", ".join(_cell(v) for v in trial.values or [])
        params = ", ".join(f"{html.escape(k)} = {_cell(v)}" for k, v in trial.params.items())
        items.append(f"<li>trial {trial.number}: <strong>{values}</strong> with {params}</li>")
    return f"<ul>{''.join(items)}</ul>"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1c1917;max-width:1200px}
table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid #d6d3d1;padding:.25rem .5rem}
th{background:#f5f5f4;text-align:left}h2{margin-top:2rem}
"""


def render_report(summary: StudySummary, study: optuna.Study) -> str:
    """The report page of ``summary`` (``study`` draws the plots)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    figures = plot_figures(study)
    plots = "".join(
        f"<h2>{html.escape(title)}</h2>"
        + figure.to_html(full_html=False, include_plotlyjs=False, default_width="100%")
        for title, figure in figures.items()
    )
    directions = ", ".join(summary.directions)
    counts = ", ".join(f"{n} {state.lower()}" for state, n in sorted(summary.states.items()))
    title = f"Study {html.escape(summary.name)}"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{title}</h1><p>{directions}; {summary.n_trials} trials ({counts})</p>"
        f"<h2>Best</h2>{_best(summary)}{plots}<h2>Trials</h2>{_trials_table(summary)}"
        "</body></html>"
    )
