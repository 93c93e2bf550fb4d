"""Labeling benchmark: query strategies, confident learning and agreement at scale (issue 11).

Prints one JSON document to stdout; progress goes to stderr.

1. ``select_batch``: 50 rows from ``--rows`` (default 100,000) x 10 classes of
   seeded softmax probabilities, per strategy, without and with diversity
   (10-column features, a candidate pool of 10 x 50).
2. ``find_label_issues`` on the same shape with 10 % of labels flipped, per
   method, and cleanlab's ``filter.find_label_issues`` side by side when it is
   importable (``n_jobs=1`` and its default, one process per core), with how
   many rows the two flag differently.
3. Agreement: ``krippendorff_alpha`` over 5 raters x ``--rows`` units (20 %
   missing; nominal and interval) beside the ``krippendorff`` package, and
   ``fleiss_kappa`` over ``--rows`` items x 5 categories beside statsmodels,
   when they are importable.
4. The active-learning simulation on scikit-learn's digits (1,797 x 64,
   LogisticRegression): the brief's run (20 initial labels, 10 rounds of 20,
   3 seeds, margin and random) timed, and with ``--figure PATH`` the longer
   comparison of docs/labeling-quality.md (20 rounds, 5 seeds; margin,
   entropy, entropy with diversity, random) drawn to PATH, with the labels
   each needs to reach 90 % and 95 % accuracy.

Each timing is the median of ``--repeats`` runs after a warm-up.

Run: ``.venv/bin/python benchmarks/labeling.py --figure docs/labeling/active-vs-random.png``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from kiln.labeling._agreement import fleiss_kappa, krippendorff_alpha
from kiln.labeling._label_issues import find_label_issues
from kiln.labeling._simulate import compare_strategies, labels_to_reach, plot_learning_curves
from kiln.labeling._strategies import select_batch

METHODS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]


def log(message: str) -> None:
    print(f"[labeling] {message}", file=sys.stderr, flush=True)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeats`` calls after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2), result


def softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def bench_select(rows: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    proba = softmax(rng.normal(size=(rows, 10)) * 2)
    features = rng.normal(size=(rows, 10))
    out: dict[str, Any] = {"shape": [rows, 10], "k": 50}
    for strategy in ("entropy", "margin", "least_confidence", "random"):
        plain, _ = timed(lambda s=strategy: select_batch(proba, 50, strategy=s, seed=0), repeats)
        diverse, _ = timed(
            lambda s=strategy: select_batch(proba, 50, strategy=s, features=features, seed=0),
            repeats,
        )
        out[strategy] = {"ms": plain, "ms_with_diversity": diverse}
        log(f"select_batch {strategy}: {plain} ms, {diverse} ms with diversity")
    return out


def bench_label_issues(rows: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 10, rows)
    logits = rng.normal(size=(rows, 10))
    logits[np.arange(rows), truth] += 3.0
    proba = softmax(logits)
    labels = truth.copy()
    flipped = rng.choice(rows, rows // 10, replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, 10, flipped.size)) % 10
    have_cleanlab = importlib.util.find_spec("cleanlab") is not None
    out: dict[str, Any] = {"shape": [rows, 10], "flipped": int(flipped.size)}
    if have_cleanlab:
        import cleanlab
        from cleanlab.filter import find_label_issues as cleanlab_find

        out["cleanlab_version"] = cleanlab.__version__
    for method in METHODS:
        ms, mask = timed(
            lambda m=method: find_label_issues(labels, proba, method=m, return_mask=True),
            repeats,
        )
        hits = int((mask[flipped]).sum())
        row: dict[str, Any] = {
            "kiln_ms": ms,
            "flagged": int(mask.sum()),
            "precision": round(hits / max(int(mask.sum()), 1), 4),
            "recall": round(hits / flipped.size, 4),
        }
        if have_cleanlab:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                one, theirs = timed(
                    lambda m=method: cleanlab_find(labels, proba, filter_by=m, n_jobs=1), repeats
                )
                default, _ = timed(lambda m=method: cleanlab_find(labels, proba, filter_by=m), 1)
            row |= {
                "cleanlab_ms_n_jobs_1": one,
                "cleanlab_ms_default_n_jobs": default,
                "rows_flagged_differently": int((mask != theirs).sum()),
            }
        out[method] = row
        log(f"find_label_issues {method}: {row}")
    return out


def bench_agreement(rows: int, repeats: int) -> dict[str, Any]:
    rng = np.random.default_rng(2)
    truth = rng.integers(1, 6, rows)
    ratings = np.where(rng.random((5, rows)) < 0.7, truth, rng.integers(1, 6, (5, rows)))
    table = ratings.astype(float)
    table[rng.random(table.shape) < 0.2] = np.nan
    out: dict[str, Any] = {"raters": 5, "units": rows, "missing_share": 0.2}
    have_krippendorff = importlib.util.find_spec("krippendorff") is not None
    for level in ("nominal", "interval"):
        ms, ours = timed(lambda lv=level: krippendorff_alpha(table, level=lv), repeats)
        row: dict[str, Any] = {"kiln_ms": ms, "alpha": round(ours, 6)}
        if have_krippendorff:
            import krippendorff

            theirs_ms, theirs = timed(
                lambda lv=level: krippendorff.alpha(
                    reliability_data=table, level_of_measurement=lv
                ),
                repeats,
            )
            row |= {"krippendorff_ms": theirs_ms, "difference": float(abs(ours - theirs))}
        out[f"krippendorff_alpha_{level}"] = row
        log(f"krippendorff_alpha {level}: {row}")
    counts = np.stack([(ratings == c).sum(axis=0) for c in range(1, 6)], axis=1)
    ms, ours = timed(lambda: fleiss_kappa(counts), repeats)
    row = {"kiln_ms": ms, "kappa": round(ours, 6)}
    if importlib.util.find_spec("statsmodels") is not None:
        from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

        theirs_ms, theirs = timed(lambda: statsmodels_fleiss(counts), repeats)
        row |= {"statsmodels_ms": theirs_ms, "difference": float(abs(ours - theirs))}
    out["fleiss_kappa"] = row
    log(f"fleiss_kappa: {row}")
    return out


def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def make_model() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=2000)


def summary(curves: list[Any]) -> dict[str, Any]:
    return {
        curve.name: {
            "labels": list(curve.labels),
            "mean_accuracy": [round(m, 4) for m in curve.mean],
            "std_accuracy": [round(s, 4) for s in curve.std],
            "labels_to_90": labels_to_reach(curve, 0.90),
            "labels_to_95": labels_to_reach(curve, 0.95),
        }
        for curve in curves
    }


def bench_simulation(figure: str | None) -> dict[str, Any]:
    x, y = digits()
    started = time.perf_counter()
    brief = compare_strategies(x, y, make_model=make_model, strategies=("margin",), seeds=(0, 1, 2))
    out: dict[str, Any] = {
        "brief_run": {
            "setup": "digits, LogisticRegression, 20 initial + 10 rounds x 20, 3 seeds",
            "seconds": round(time.perf_counter() - started, 2),
            "curves": summary(brief),
        }
    }
    log(f"simulation (brief's run): {out['brief_run']['seconds']} s")
    if figure:
        seeds = (0, 1, 2, 3, 4)
        settings = {"seeds": seeds, "rounds": 20}
        started = time.perf_counter()
        plain = compare_strategies(
            x, y, make_model=make_model, strategies=("margin", "entropy"), **settings
        )
        diverse = compare_strategies(
            x, y, make_model=make_model, strategies=("entropy",), pool=5, **settings
        )
        curves = [plain[0], plain[1], diverse[0], plain[2]]
        seconds = round(time.perf_counter() - started, 2)
        plot_learning_curves(
            curves,
            png=figure,
            title="digits, LogisticRegression: mean of 5 seeds, band ±1 sd",
        )
        out["figure"] = {
            "path": figure,
            "setup": "digits, LogisticRegression, 20 initial + 20 rounds x 20, 5 seeds, "
            "diversity pool 5",
            "seconds": seconds,
            "curves": summary(curves),
        }
        log(f"figure written to {figure} ({seconds} s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--figure", help="write the learning-curve PNG of the docs here")
    args = parser.parse_args()
    import sklearn

    result = {
        "meta": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "numpy": np.__version__,
            "scikit_learn": sklearn.__version__,
        },
        "select_batch": bench_select(args.rows, args.repeats),
        "find_label_issues": bench_label_issues(args.rows, args.repeats),
        "agreement": bench_agreement(args.rows, args.repeats),
        "simulation": bench_simulation(args.figure),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
