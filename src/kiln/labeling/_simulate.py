"""Simulated pool-based active learning: how many labels a query strategy saves.

The true labels play the annotator. A seeded, stratified holdout is set
aside for scoring; ``initial`` random rows of the rest are labelled, then for
``rounds`` rounds a model is fitted, scored on the holdout, and the next
``batch`` rows are chosen from the unlabelled pool by :func:`select_batch`.
:func:`compare_strategies` runs active strategies and random selection on the
same splits and seeds (a paired comparison) and summarises each as a
:class:`LearningCurve`; :func:`plot_learning_curves` draws them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput
from kiln.labeling._strategies import STRATEGIES, select_batch

__all__ = [
    "LearningCurve",
    "compare_strategies",
    "labels_to_reach",
    "learning_curve",
    "plot_learning_curves",
]


@dataclass(frozen=True)
class LearningCurve:
    """Holdout accuracy against labels used, over several seeds.

    ``runs[s][i]`` is seed ``s``'s accuracy after ``labels[i]`` labels;
    ``mean`` and ``std`` summarise the runs point by point.
    """

    name: str
    labels: tuple[int, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    runs: tuple[tuple[float, ...], ...]


def _whole(value: int, field: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
        raise InvalidInput(f"{field} must be a whole number ≥ {least}, not {value!r}", field=field)
    return int(value)


def learning_curve(
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    y: npt.ArrayLike,
    *,
    make_model: Callable[[], Any],
    strategy: str = "entropy",
    initial: int = 20,
    batch: int = 20,
    rounds: int = 10,
    holdout: float = 0.25,
    pool: float | None = None,
    seed: int = 0,
) -> list[tuple[int, float]]:
    """One simulated run: ``(labels used, holdout accuracy)`` after each round.

    ``make_model()`` returns a fresh, unfitted classifier with ``predict_proba``.
    ``strategy`` is a :func:`select_batch` strategy (``"random"`` is the
    baseline); ``pool`` turns on its diversity-aware batches over ``X``.
    Returns ``rounds + 1`` points, from ``initial`` to ``initial + rounds * batch``.
    """
    from threadpoolctl import threadpool_limits

    features = np.asarray(X, dtype=np.float64)
    target = np.asarray(y)
    if features.ndim != 2 or features.shape[0] != target.shape[0]:
        raise InvalidInput(
            f"X must be rows-by-features with one row per label, got {features.shape} "
            f"and {target.shape}",
            field="X",
        )
    if strategy != "random" and strategy not in STRATEGIES:
        raise InvalidInput(
            f"strategy must be one of {', '.join([*sorted(STRATEGIES), 'random'])}, "
            f"not {strategy!r}",
            field="strategy",
        )
    initial = _whole(initial, "initial", 2)
    batch = _whole(batch, "batch", 1)
    rounds = _whole(rounds, "rounds", 0)
    if not 0.0 < holdout < 1.0:
        raise InvalidInput(
            f"holdout must be a fraction in (0, 1), not {holdout!r}", field="holdout"
        )
    test, labelled, unlabelled = _split(target, holdout, initial, initial + rounds * batch, seed)
    rng = np.random.default_rng(seed)
    points: list[tuple[int, float]] = []
    with threadpool_limits(1):  # tiny fits: BLAS threads cost more than they give
        for step in range(rounds + 1):
            model = make_model()
            model.fit(features[labelled], target[labelled])
            accuracy = float(np.mean(model.predict(features[test]) == target[test]))
            points.append((int(labelled.size), accuracy))
            if step == rounds:
                break
            picked = select_batch(
                model.predict_proba(features[unlabelled]),
                batch,
                strategy=strategy,  # type: ignore[arg-type]  # checked above
                features=None if pool is None else features[unlabelled],
                pool=10.0 if pool is None else pool,
                seed=int(rng.integers(2**31)),
            )
            labelled = np.concatenate([labelled, unlabelled[picked]])
            unlabelled = np.delete(unlabelled, picked)
    return points


def _split(
    target: npt.NDArray[Any], holdout: float, initial: int, needed: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """(holdout rows, initial labelled rows, unlabelled pool), all fixed by ``seed``."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(target.size)
    train, test = train_test_split(rows, test_size=holdout, stratify=target, random_state=seed)
    if needed > train.size:
        raise InvalidInput(
            f"the run needs {needed} labels but the pool has {train.size} rows; "
            "lower initial, batch or rounds, or the holdout",
            field="rounds",
        )
    order = np.random.default_rng(seed).permutation(train)
    if np.unique(target[order[:initial]]).size < 2:
        raise InvalidInput(
            f"the {initial} initial labels hold one class; raise initial or change seed",
            field="initial",
        )
    return test, order[:initial], order[initial:]


def compare_strategies(
    X: Any,  # noqa: N803  (scikit-learn's name for the feature matrix)
    y: npt.ArrayLike,
    *,
    make_model: Callable[[], Any],
    strategies: Sequence[str] = ("entropy",),
    seeds: Sequence[int] = (0, 1, 2),
    pool: float | None = None,
    initial: int = 20,
    batch: int = 20,
    rounds: int = 10,
    holdout: float = 0.25,
) -> list[LearningCurve]:
    """Learning curves of each active strategy and of random selection, over ``seeds``.

    Every strategy sees the same holdout and initial labels for a given seed,
    so differences are the strategies', not the splits'. With ``pool`` the
    active strategies use diversity-aware batches and are named
    ``"<strategy> + diversity"``. Random comes last.
    """
    if not seeds:
        raise InvalidInput("seeds is empty; give at least one seed", field="seeds")
    curves = []
    for strategy in [*(s for s in strategies if s != "random"), "random"]:
        use_pool = None if strategy == "random" else pool
        runs = [
            learning_curve(
                X,
                y,
                make_model=make_model,
                strategy=strategy,
                initial=initial,
                batch=batch,
                rounds=rounds,
                holdout=holdout,
                pool=use_pool,
                seed=seed,
            )
            for seed in seeds
        ]
        accuracy = np.array([[acc for _, acc in run] for run in runs])
        curves.append(
            LearningCurve(
                name=strategy if use_pool is None else f"{strategy} + diversity",
                labels=tuple(n for n, _ in runs[0]),
                mean=tuple(accuracy.mean(axis=0).tolist()),
                std=tuple(accuracy.std(axis=0).tolist()),
                runs=tuple(tuple(row) for row in accuracy.tolist()),
            )
        )
    return curves


def labels_to_reach(curve: LearningCurve, accuracy: float) -> int | None:
    """The fewest labels at which the curve's mean accuracy reaches ``accuracy``, if it does."""
    for labels, mean in zip(curve.labels, curve.mean, strict=True):
        if mean >= accuracy:
            return labels
    return None


def plot_learning_curves(
    curves: Sequence[LearningCurve],
    *,
    png: str | Path | None = None,
    html: str | Path | None = None,
    title: str = "Accuracy against labels used",
) -> None:
    """Draw mean accuracy (with a ±1 standard deviation band) against labels used.

    ``png`` is written with matplotlib's Agg canvas (no display, and the
    process's pyplot backend is left alone); ``html`` is a self-contained
    plotly page. Random selection is drawn dashed.
    """
    if not curves:
        raise InvalidInput("curves is empty; pass compare_strategies' result", field="curves")
    if png is None and html is None:
        raise InvalidInput("give png= or html= (or both) to say where to write", field="png")
    if png is not None:
        _write_png(curves, Path(png), title)
    if html is not None:
        _write_html(curves, Path(html), title)


def _write_png(curves: Sequence[LearningCurve], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.2), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for curve in curves:
        mean, std = np.array(curve.mean), np.array(curve.std)
        style = "--" if curve.name == "random" else "-"
        color = "0.45" if curve.name == "random" else None
        (line,) = axes.plot(
            curve.labels, mean, style, marker="o", ms=3, label=curve.name, color=color
        )
        axes.fill_between(curve.labels, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    axes.set_xlabel("labels used")
    axes.set_ylabel("holdout accuracy")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)


def _write_html(curves: Sequence[LearningCurve], path: Path, title: str) -> None:
    import plotly.graph_objects as go  # type: ignore[import-untyped]

    figure = go.Figure()
    for curve in curves:
        mean, std = np.array(curve.mean), np.array(curve.std)
        labels = list(curve.labels)
        figure.add_trace(
            go.Scatter(
                x=labels + labels[::-1],
                y=list(mean + std) + list((mean - std)[::-1]),
                fill="toself",
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=curve.name,
            )
        )
        figure.add_trace(
            go.Scatter(
                x=labels,
                y=list(mean),
                mode="lines+markers",
                name=curve.name,
                legendgroup=curve.name,
                line={"dash": "dash"} if curve.name == "random" else {},
            )
        )
    figure.update_layout(title=title, xaxis_title="labels used", yaxis_title="holdout accuracy")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.write_html(path, include_plotlyjs=True, full_html=True)
