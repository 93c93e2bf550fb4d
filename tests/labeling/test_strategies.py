"""kiln.labeling._strategies: uncertainty scores, batch selection, diversity, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kiln.errors import InvalidInput
from kiln.labeling._strategies import entropy, least_confidence, margin, select_batch

ROWS = np.array(
    [
        [1.0, 0.0, 0.0],  # certain
        [0.5, 0.5, 0.0],  # a coin flip between two classes
        [1 / 3, 1 / 3, 1 / 3],  # knows nothing
        [0.6, 0.3, 0.1],
    ]
)


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def test_scores_by_hand() -> None:
    assert least_confidence(ROWS) == pytest.approx([0.0, 0.5, 2 / 3, 0.4])
    assert margin(ROWS) == pytest.approx([0.0, 1.0, 1.0, 0.7])
    assert entropy(ROWS) == pytest.approx(
        [0.0, np.log(2), np.log(3), -(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))]
    )


probabilities = st.integers(1, 40).flatmap(
    lambda n: arrays(np.float64, (n, 4), elements=st.floats(-5, 5)).map(_softmax)
)


@given(proba=probabilities)
@settings(max_examples=100, deadline=None)
def test_scores_are_bounded_and_agree_on_the_certain(proba: np.ndarray) -> None:
    classes = proba.shape[1]
    lc, mg, en = least_confidence(proba), margin(proba), entropy(proba)
    assert np.all((lc >= 0) & (lc <= 1 - 1 / classes + 1e-12))
    assert np.all((mg >= 0) & (mg <= 1 + 1e-12))
    assert np.all((en >= 0) & (en <= np.log(classes) + 1e-12))
    # Sharpening a row (squaring then renormalising) never makes it more uncertain.
    sharper = proba**2 / (proba**2).sum(axis=1, keepdims=True)
    assert np.all(least_confidence(sharper) <= lc + 1e-12)


def test_select_batch_takes_the_most_uncertain_first() -> None:
    assert select_batch(ROWS, 2).tolist() == [2, 3]  # entropy: row 3 spreads over three classes
    assert select_batch(ROWS, 2, strategy="least_confidence").tolist() == [2, 1]
    # Margin ties rows 1 and 2 at 1.0: the lower index comes first.
    assert select_batch(ROWS, 3, strategy="margin").tolist() == [1, 2, 3]
    assert select_batch(ROWS, 10).tolist() == [2, 3, 1, 0]  # fewer rows than k: all of them


@given(proba=probabilities, k=st.integers(1, 50))
@settings(max_examples=100, deadline=None)
def test_select_batch_matches_a_full_sort(proba: np.ndarray, k: int) -> None:
    scores = entropy(proba)
    expected = np.lexsort((np.arange(scores.size), -scores))[:k]
    assert select_batch(proba, k).tolist() == expected.tolist()


def test_random_is_seeded_and_distinct() -> None:
    proba = _softmax(np.random.default_rng(0).normal(size=(1000, 5)))
    first = select_batch(proba, 30, strategy="random", seed=4)
    assert first.tolist() == select_batch(proba, 30, strategy="random", seed=4).tolist()
    assert first.tolist() != select_batch(proba, 30, strategy="random", seed=5).tolist()
    assert np.unique(first).size == 30


def test_diversity_spreads_a_batch_over_clusters() -> None:
    # Ten tight clusters; one of them is by far the most uncertain. Plain entropy
    # spends the whole batch there, the diverse batch reaches other clusters.
    rng = np.random.default_rng(1)
    centres = rng.normal(scale=10.0, size=(10, 2))
    cluster = np.repeat(np.arange(10), 100)
    features = centres[cluster] + rng.normal(scale=0.1, size=(1000, 2))
    sharpness = np.where(cluster == 0, 0.1, 3.0) + rng.random(1000) * 0.05
    logits = rng.normal(size=(1000, 3)) * sharpness[:, None]
    proba = _softmax(logits)
    plain = select_batch(proba, 10)
    diverse = select_batch(proba, 10, features=features, pool=50)
    assert np.unique(cluster[plain]).size <= 2
    assert np.unique(cluster[diverse]).size >= 6
    assert diverse[0] == plain[0]  # the farthest-first walk starts at the most uncertain
    assert sorted(select_batch(proba, 10, features=features, pool=1)) == sorted(plain)


def test_select_batch_refuses_bad_input() -> None:
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"proba": [[0.5, 0.6]]}, "proba", "sum to 1"),
        ({"proba": [[1.5, -0.5]]}, "proba", r"\[0, 1\]"),
        ({"proba": [0.5, 0.5]}, "proba", "rows-by-classes"),
        ({"proba": ROWS, "k": 0}, "k", "positive"),
        ({"proba": ROWS, "k": 2.5}, "k", "positive"),
        ({"proba": ROWS, "strategy": "bald"}, "strategy", "one of"),
        ({"proba": ROWS, "features": np.ones((3, 2))}, "features", "one row per row"),
        ({"proba": ROWS, "features": np.full((4, 2), np.nan)}, "features", "NaN"),
        ({"proba": ROWS, "features": np.ones((4, 2)), "pool": 0.5}, "pool", "at least 1"),
    ]
    for kwargs, field, message in cases:
        arguments = {"k": 2, **kwargs}
        with pytest.raises(InvalidInput, match=message) as caught:
            select_batch(**arguments)  # type: ignore[arg-type]
        assert caught.value.field == field


def test_fifty_from_a_hundred_thousand_is_fast() -> None:
    rng = np.random.default_rng(0)
    proba = _softmax(rng.normal(size=(100_000, 10)))
    features = rng.normal(size=(100_000, 10))
    select_batch(proba, 50)  # warm up
    for kwargs in ({}, {"features": features}):
        started = time.perf_counter()
        picked = select_batch(proba, 50, **kwargs)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        assert np.unique(picked).size == 50
        assert elapsed < 0.5, f"select_batch took {elapsed:.3f}s with {sorted(kwargs)}"
