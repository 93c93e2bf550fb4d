"""kiln.labeling._agreement against published worked examples and reference implementations."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from kiln.errors import InvalidInput
from kiln.labeling._agreement import (
    annotator_stats,
    cohen_kappa,
    consensus,
    consensus_multilabel,
    fleiss_kappa,
    krippendorff_alpha,
    rating_counts,
)

# The 10 subjects x 14 raters x 5 categories table of Wikipedia's "Fleiss' kappa" article
# (also statsmodels' test of fleiss_kappa): P-bar = 0.378, P_e = 0.213, kappa = 0.210.
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, 5 diagnoses
# (1 depression, 2 personality disorder, 3 schizophrenia, 4 neurosis, 5 other); kappa = 0.430.
FLEISS_1971 = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C:
# 4 observers x 12 units, values 1-5, None where an observer gave no value.
KRIPPENDORFF_C = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
KRIPPENDORFF_C_ALPHA = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}
LEVELS = list(KRIPPENDORFF_C_ALPHA)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --- Cohen's kappa -----------------------------------------------------------------------


def test_cohen_kappa_worked_example() -> None:
    # 50 applications: both yes 20, both no 15, A yes / B no 5, A no / B yes 10.
    # p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4.
    a = ["yes"] * 20 + ["no"] * 15 + ["yes"] * 5 + ["no"] * 10
    b = ["yes"] * 20 + ["no"] * 15 + ["no"] * 5 + ["yes"] * 10
    assert cohen_kappa(a, b) == pytest.approx(0.4)


labels_pairs = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
    )
)


@given(pair=labels_pairs, weights=st.sampled_from([None, "linear", "quadratic"]))
@settings(max_examples=200, deadline=None)
def test_cohen_kappa_equals_sklearn(pair: tuple[list[int], list[int]], weights: str | None) -> None:
    a, b = pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns where kappa is undefined
        theirs = cohen_kappa_score(a, b, weights=weights)
    ours = cohen_kappa(a, b, weights=weights)  # type: ignore[arg-type]
    if math.isnan(theirs):
        assert math.isnan(ours)
    else:
        assert ours == pytest.approx(theirs, abs=1e-12)


@given(pair=labels_pairs, weights=st.sampled_from([None, "linear", "quadratic"]))
@settings(max_examples=100, deadline=None)
def test_cohen_kappa_with_labels_equals_sklearn(
    pair: tuple[list[int], list[int]], weights: str | None
) -> None:
    a, b = pair
    labels = [4, 2, 0, 1, 3, 5]  # the order is the scale of a weighted kappa
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = cohen_kappa_score(a, b, labels=labels, weights=weights)
    ours = cohen_kappa(a, b, labels=labels, weights=weights)  # type: ignore[arg-type]
    assert (math.isnan(ours) and math.isnan(theirs)) or ours == pytest.approx(theirs, abs=1e-12)


def test_cohen_kappa_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="same items") as caught:
        cohen_kappa([1, 2], [1])
    assert caught.value.field == "b"
    with pytest.raises(InvalidInput, match="does not list"):
        cohen_kappa([1, 2], [1, 3], labels=[1, 2])
    with pytest.raises(InvalidInput, match="weights"):
        cohen_kappa([1], [1], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="at least one"):
        cohen_kappa([], [])
    with pytest.raises(InvalidInput, match="None"):
        cohen_kappa([1, None], [1, 2])
    # Mixed label types are labels like any other (not coerced to strings).
    assert cohen_kappa([1, "1"], [1, "1"]) == 1.0


def test_cohen_kappa_undefined_is_nan() -> None:
    assert math.isnan(cohen_kappa(["a", "a"], ["a", "a"]))


# --- Fleiss' kappa -----------------------------------------------------------------------


def test_fleiss_kappa_wikipedia_example() -> None:
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.20993, abs=5e-6)


def test_fleiss_kappa_fleiss_1971() -> None:
    counts, categories = rating_counts(FLEISS_1971)
    assert categories == [1, 2, 3, 4, 5]
    assert counts.sum(axis=1).tolist() == [6] * 30
    assert fleiss_kappa(counts) == pytest.approx(0.430, abs=5e-4)


@pytest.mark.skipif(not _installed("statsmodels"), reason="statsmodels is not installed")
def test_fleiss_kappa_equals_statsmodels() -> None:
    from statsmodels.stats.inter_rater import fleiss_kappa as theirs

    rng = np.random.default_rng(7)
    for table in (WIKIPEDIA_FLEISS, rating_counts(FLEISS_1971)[0]):
        assert fleiss_kappa(table) == pytest.approx(theirs(np.asarray(table)), abs=1e-12)
    for _ in range(50):
        raters, categories = int(rng.integers(2, 9)), int(rng.integers(2, 6))
        table = rng.multinomial(raters, rng.dirichlet(np.ones(categories)), size=40)
        assert fleiss_kappa(table) == pytest.approx(theirs(table), abs=1e-12)


def test_fleiss_kappa_refuses_uneven_items() -> None:
    with pytest.raises(InvalidInput, match="same number of ratings per item") as caught:
        fleiss_kappa([[2, 1], [1, 1]])
    assert caught.value.field == "counts"
    assert "item 1 has 2" in str(caught.value)
    with pytest.raises(InvalidInput, match="at least two ratings"):
        fleiss_kappa([[1, 0], [0, 1]])
    with pytest.raises(InvalidInput, match="whole numbers"):
        fleiss_kappa([[1.5, 0.5], [1, 1]])
    with pytest.raises(InvalidInput, match="items-by-categories"):
        fleiss_kappa([1, 2, 3])


def test_rating_counts_categories_and_skips() -> None:
    counts, categories = rating_counts(
        [["cat", "dog", None], ["dog", "dog"]], categories=["bird", "cat", "dog"]
    )
    assert categories == ["bird", "cat", "dog"]
    assert counts.tolist() == [[0, 1, 1], [0, 0, 2]]
    with pytest.raises(InvalidInput, match="does not list"):
        rating_counts([["cow"]], categories=["cat"])


# --- Krippendorff's alpha ----------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_alpha_published_example(level: str) -> None:
    alpha = krippendorff_alpha(KRIPPENDORFF_C, level=level)  # type: ignore[arg-type]
    assert alpha == pytest.approx(KRIPPENDORFF_C_ALPHA[level], abs=5e-4)


def test_krippendorff_alpha_nan_and_strings() -> None:
    as_nan = [[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_C]
    assert krippendorff_alpha(as_nan) == pytest.approx(krippendorff_alpha(KRIPPENDORFF_C))
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    words = [[None if v is None else names[v] for v in row] for row in KRIPPENDORFF_C]
    assert krippendorff_alpha(words) == pytest.approx(0.743, abs=5e-4)
    domain = list(names.values())
    ordinal = krippendorff_alpha(words, level="ordinal", value_domain=domain)
    assert ordinal == pytest.approx(0.815, abs=5e-4)


@pytest.mark.skipif(not _installed("krippendorff"), reason="krippendorff is not installed")
@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_alpha_equals_the_krippendorff_package(level: str) -> None:
    import krippendorff

    rng = np.random.default_rng(LEVELS.index(level))
    tables = [np.array(KRIPPENDORFF_C, dtype=float)]
    for _ in range(30):
        raters, units = int(rng.integers(2, 7)), int(rng.integers(3, 40))
        truth = rng.integers(1, 6, size=units)
        table = np.where(
            rng.random((raters, units)) < 0.7, truth, rng.integers(1, 6, (raters, units))
        )
        table = table.astype(float)
        table[rng.random(table.shape) < 0.2] = np.nan
        if np.unique(table[~np.isnan(table)]).size > 1 and ((~np.isnan(table)).sum(0) >= 2).any():
            tables.append(table)
    for table in tables:
        theirs = krippendorff.alpha(reliability_data=table, level_of_measurement=level)
        ours = krippendorff_alpha(table, level=level)  # type: ignore[arg-type]
        assert ours == pytest.approx(theirs, abs=1e-9)


def test_krippendorff_alpha_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput, match="two or more raters"):
        krippendorff_alpha([[1, None], [None, 2]])
    with pytest.raises(InvalidInput, match="level"):
        krippendorff_alpha(KRIPPENDORFF_C, level="cardinal")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="takes numbers"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level="interval")
    with pytest.raises(InvalidInput, match="value_domain"):
        krippendorff_alpha([["a", "b"], ["a", "a"]], level="ordinal")
    with pytest.raises(InvalidInput, match="raters-by-units"):
        krippendorff_alpha([1, 2, 3])
    assert math.isnan(krippendorff_alpha([[1, 1], [1, 1]]))


# --- Consensus and annotators ------------------------------------------------------------


def test_consensus_majority_weights_and_ties() -> None:
    assert consensus(["cat", "dog", "cat"]) == ("cat", pytest.approx(2 / 3))
    # An expert's vote outweighs two novices'.
    assert consensus(["cat", "dog", "dog"], weights=[0.9, 0.3, 0.3]) == (
        "cat",
        pytest.approx(0.6),
    )
    # A tie goes to the label that sorts first, whatever the order of the votes.
    assert consensus(["dog", "cat"])[0] == "cat"
    assert consensus(["cat", "dog"])[0] == "cat"
    # Labels that do not sort together are ordered by type name: int before str.
    assert consensus([2, "two"])[0] == 2
    assert consensus(["two", 2])[0] == 2
    with pytest.raises(InvalidInput, match="one weight per label"):
        consensus(["a", "b"], weights=[1.0])
    with pytest.raises(InvalidInput, match="not all zero"):
        consensus(["a"], weights=[0.0])
    with pytest.raises(InvalidInput, match="empty"):
        consensus([])


def test_consensus_multilabel() -> None:
    chosen, shares = consensus_multilabel([{"cat", "dog"}, {"cat"}, {"cat", "bird"}, {"dog"}])
    assert chosen == frozenset({"cat"})  # dog has exactly half: no majority
    assert shares == {"cat": 0.75, "dog": 0.5, "bird": 0.25}
    chosen, _ = consensus_multilabel([{"cat"}, {"dog"}], weights=[1.0, 3.0])
    assert chosen == frozenset({"dog"})


def test_annotator_stats() -> None:
    annotations = {
        "t1": {"ann": "cat", "bob": "cat", "cy": "dog"},
        "t2": {"ann": "dog", "bob": "cat"},
        "t3": {"ann": "dog"},
        "g1": {"ann": "cat", "bob": "dog"},
    }
    stats = annotator_stats(annotations, gold={"g1": "cat", "t3": "cat"})
    ann, bob, cy = stats["ann"], stats["bob"], stats["cy"]
    assert (ann.count, ann.gold_count, ann.gold_accuracy) == (4, 2, 0.5)
    assert (bob.count, bob.gold_count, bob.gold_accuracy) == (3, 1, 0.0)
    assert cy.gold_accuracy is None
    # Shared items: ann t1, t2, g1. Consensus: t1 cat, t2 cat (tie), g1 cat (tie).
    assert ann.shared_count == 3
    assert ann.consensus_agreement == pytest.approx(2 / 3)
    assert ann.pairwise_agreement == pytest.approx(1 / 4)  # agrees with bob on t1 only
    assert cy.consensus_agreement == 0.0
    assert cy.pairwise_agreement == 0.0
    # Weighting ann (gold-accurate) above bob flips the tied items to ann's answer.
    weighted = annotator_stats(annotations, weights={"ann": 0.9, "bob": 0.4})
    assert weighted["ann"].consensus_agreement == 1.0
