"""kiln.labeling._label_issues: flipped labels found, and cleanlab's answers reproduced."""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from kiln.errors import InvalidInput
from kiln.labeling._label_issues import (
    calibrate_confident_joint,
    confident_joint,
    confident_thresholds,
    cross_validated_probabilities,
    find_label_issues,
    self_confidence,
)

METHODS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning"]
needs_cleanlab = pytest.mark.skipif(
    importlib.util.find_spec("cleanlab") is None, reason="cleanlab is not installed"
)


def _noisy(
    seed: int, classes: int, *, separable: bool, rows: int = 1500
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels with 10 % flipped to another class, their cross-validated probabilities,
    and the flipped rows."""
    if separable:
        # One centre per axis, 4 apart: a model tells the classes apart, so it can tell
        # which labels disagree with what the features say.
        x, y = make_blobs(rows, centers=4.0 * np.eye(classes), random_state=seed)
    else:
        x, y = make_classification(
            rows,
            n_features=10,
            n_informative=6,
            n_classes=classes,
            n_clusters_per_class=1,
            class_sep=1.5,
            random_state=seed,
        )
    rng = np.random.default_rng(seed)
    flipped = rng.choice(rows, size=rows // 10, replace=False)
    labels = y.copy()
    labels[flipped] = (y[flipped] + rng.integers(1, classes, size=flipped.size)) % classes
    with threadpool_limits(1):  # tiny fits; BLAS threads only contend (the suite runs in two)
        model = LogisticRegression(max_iter=1000)
        proba = cross_validated_probabilities(model, x, labels, seed=seed)
    return labels, proba, flipped


@pytest.fixture(scope="module")
def separable() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [_noisy(seed, classes, separable=True) for seed, classes in [(0, 3), (1, 5), (2, 8)]]


@pytest.fixture(scope="module")
def overlapping() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [_noisy(seed, k, separable=False) for seed in (0, 1) for k in (2, 3, 5, 10)]


@pytest.mark.parametrize("method", METHODS)
def test_finds_the_flipped_labels(
    separable: list[tuple[np.ndarray, np.ndarray, np.ndarray]], method: str
) -> None:
    for labels, proba, flipped in separable:
        found = find_label_issues(labels, proba, method=method)  # type: ignore[arg-type]
        hits = np.intersect1d(found, flipped).size
        precision, recall = hits / found.size, hits / flipped.size
        assert precision >= 0.95, f"{method}: precision {precision:.2f}"
        # The joint's off-diagonal counts only confident rows, so it finds fewer.
        assert recall >= (0.7 if method == "confident_learning" else 0.85), (
            f"{method}: recall {recall:.2f}"
        )


def test_ranked_by_self_confidence_and_mask(
    separable: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    labels, proba, _ = separable[0]
    ranked = find_label_issues(labels, proba)
    mask = find_label_issues(labels, proba, return_mask=True)
    assert mask.dtype == bool
    assert mask.shape == labels.shape
    assert sorted(ranked.tolist()) == np.flatnonzero(mask).tolist()
    scores = self_confidence(labels, proba)[ranked]
    assert np.all(np.diff(scores) >= 0)


def test_frac_noise_and_min_examples(
    separable: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> None:
    labels, proba, _ = separable[1]
    everything = find_label_issues(labels, proba, method="prune_by_class")
    half = find_label_issues(labels, proba, method="prune_by_class", frac_noise=0.5)
    assert 0.4 * everything.size <= half.size <= 0.6 * everything.size
    assert set(half.tolist()) <= set(everything.tolist())
    assert find_label_issues(labels, proba, frac_noise=0.0).size == 0
    kept = find_label_issues(labels, proba, min_examples_per_class=len(labels))
    assert kept.size == 0


def test_thresholds_and_joint_by_hand() -> None:
    labels = np.array([0, 0, 1, 1, 2, 2, 1])
    proba = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.9, 0.05, 0.05],
            [0.1, 0.3, 0.6],
            [0.1, 0.3, 0.6],
            [0.1, 0.65, 0.25],
            [0.1, 0.65, 0.25],
            [0.4, 0.33, 0.27],
        ]
    )
    assert confident_thresholds(labels, proba) == pytest.approx([0.9, 0.31, 0.25])
    # The last row reaches the thresholds of classes 1 and 2 but not of class 0, its
    # argmax: it counts under class 1, the likelier of the two it reaches.
    joint = confident_joint(labels, proba, calibrate=False)
    assert joint.tolist() == [[2, 0, 0], [0, 1, 2], [0, 2, 1]]  # diagonal at least 1
    calibrated = calibrate_confident_joint(joint, labels)
    assert calibrated.sum(axis=1).tolist() == [2, 3, 2]
    assert calibrated.tolist() == [[2, 0, 0], [0, 1, 2], [0, 1, 1]]


@needs_cleanlab
def test_cleanlab_guesses_the_argmax_even_when_it_is_not_confident() -> None:
    from cleanlab.count import compute_confident_joint

    labels = np.array([0, 0, 1, 1, 2, 2, 1])
    proba = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.9, 0.05, 0.05],
            [0.1, 0.3, 0.6],
            [0.1, 0.3, 0.6],
            [0.1, 0.65, 0.25],
            [0.1, 0.65, 0.25],
            [0.4, 0.33, 0.27],
        ]
    )
    theirs = compute_confident_joint(labels, proba, calibrate=False)
    assert theirs[1].tolist() == [1, 1, 2]  # the last row under class 0; the diagonal clipped to 1
    assert confident_joint(labels, proba, calibrate=False)[1].tolist() == [0, 1, 2]


@needs_cleanlab
def test_same_as_cleanlab(overlapping: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    from cleanlab.count import compute_confident_joint
    from cleanlab.filter import find_label_issues as cleanlab_find

    for labels, proba, _ in overlapping:
        raw = confident_joint(labels, proba, calibrate=False)
        assert raw.tolist() == compute_confident_joint(labels, proba, calibrate=False).tolist()
        ours_joint = confident_joint(labels, proba)
        theirs_joint = compute_confident_joint(labels, proba)
        # The same up to ties in rounding (cleanlab breaks them with an unstable sort).
        assert ours_joint.sum(axis=1).tolist() == theirs_joint.sum(axis=1).tolist()
        assert np.abs(ours_joint - theirs_joint).max() <= 1
        for method in METHODS:
            ours = find_label_issues(labels, proba, method=method, return_mask=True)  # type: ignore[arg-type]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                given_our_joint = cleanlab_find(
                    labels,
                    proba,
                    filter_by=method,
                    n_jobs=1,
                    confident_joint=None if method == "confident_learning" else ours_joint,
                )
                independent = cleanlab_find(labels, proba, filter_by=method, n_jobs=1)
            assert ours.tolist() == given_our_joint.tolist(), method
            assert np.sum(ours != independent) <= max(2, 0.05 * ours.sum()), method
            ranked = find_label_issues(labels, proba, method=method)  # type: ignore[arg-type]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs_ranked = cleanlab_find(
                    labels,
                    proba,
                    filter_by=method,
                    n_jobs=1,
                    confident_joint=None if method == "confident_learning" else ours_joint,
                    return_indices_ranked_by="self_confidence",
                )
            scores = self_confidence(labels, proba)
            assert scores[ranked].tolist() == scores[theirs_ranked].tolist()


def test_refuses_bad_input() -> None:
    proba = np.array([[0.7, 0.3], [0.2, 0.8]])
    cases: list[tuple[object, object, str, str]] = [
        ([0, 2], proba, "labels", "class indices"),
        (["a", "b"], proba, "labels", "class indices"),
        ([0], proba, "labels", "one label per row"),
        ([0, 1], [[1.0], [1.0]], "pred_probs", "two classes or more"),
        ([0, 1], [[np.nan, 1.0], [0.5, 0.5]], "pred_probs", "probabilities"),
    ]
    for labels, pred_probs, field, message in cases:
        with pytest.raises(InvalidInput, match=message) as caught:
            find_label_issues(labels, pred_probs)  # type: ignore[arg-type]
        assert caught.value.field == field
    with pytest.raises(InvalidInput, match="method") as caught:
        find_label_issues([0, 1], proba, method="vote")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="frac_noise"):
        find_label_issues([0, 1], proba, frac_noise=2.0)


@threadpool_limits.wrap(1)
def test_cross_validated_probabilities() -> None:
    x, y = make_blobs(300, centers=6.0 * np.eye(3), random_state=0)
    labels = np.array(["a", "b", "c"])[y]
    first = cross_validated_probabilities(LogisticRegression(), x, labels, folds=3, seed=1)
    again = cross_validated_probabilities(LogisticRegression(), x, labels, folds=3, seed=1)
    assert first.shape == (300, 3)
    assert np.allclose(first.sum(axis=1), 1.0)
    assert np.array_equal(first, again)
    assert np.mean(first.argmax(axis=1) == y) > 0.95  # columns in sorted class order
    with pytest.raises(InvalidInput, match="fewer than folds") as caught:
        cross_validated_probabilities(LogisticRegression(), x[:12], [0] * 10 + [1] * 2)
    assert caught.value.field == "y"
    with pytest.raises(InvalidInput, match="predict_proba"):
        cross_validated_probabilities(LinearSVC(), x, y)
    with pytest.raises(InvalidInput, match="folds"):
        cross_validated_probabilities(LogisticRegression(), x, y, folds=1)


def test_a_hundred_thousand_rows_is_fast() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 10, 100_000)
    logits = rng.normal(size=(100_000, 10))
    logits[np.arange(truth.size), truth] += 3.0
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = truth.copy()
    flipped = rng.choice(truth.size, 10_000, replace=False)
    labels[flipped] = (truth[flipped] + rng.integers(1, 10, flipped.size)) % 10
    for method in METHODS:
        started = time.perf_counter()
        find_label_issues(labels, proba, method=method)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        assert elapsed < 1.5, f"{method} took {elapsed:.2f}s"
