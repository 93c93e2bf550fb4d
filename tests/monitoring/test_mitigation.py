"""Fairness mitigation of kiln.monitoring._mitigation: reweighing by hand, fairlearn thresholds."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._fairness import fairness_metrics
from kiln.monitoring._mitigation import (
    ThresholdOptimized,
    fit_threshold_optimizer,
    reweighing_weights,
)


def test_reweighing_hand_computed_example() -> None:
    # Cells: (a, 1) x3, (a, 0) x1, (b, 1) x1, (b, 0) x5; n_a = 4, n_b = 6, n_1 = 4, n_0 = 6.
    a = np.array(list("aaaabbbbbb"))
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    w = reweighing_weights(y, a)
    expected = [16 / 30] * 3 + [24 / 10] + [24 / 10] + [36 / 50] * 5  # n_a n_y / (n n_ay)
    assert w.tolist() == pytest.approx(expected, abs=1e-12)
    assert w.sum() == pytest.approx(10.0)


@pytest.mark.parametrize(("seed", "groups", "classes"), [(1, 2, 2), (2, 4, 3)])
def test_reweighing_makes_label_independent_of_group(seed: int, groups: int, classes: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, groups, size=3000)
    skewed = rng.uniform(size=3000) ** (1 + a)  # higher groups lean to lower labels
    y = np.minimum((classes * skewed).astype(int), classes - 1)
    w = reweighing_weights(y, a)
    joint = np.zeros((groups, classes))
    np.add.at(joint, (a, y), w)
    joint /= w.sum()
    p_a, p_y = joint.sum(axis=1), joint.sum(axis=0)
    assert joint == pytest.approx(np.outer(p_a, p_y), abs=1e-12)
    assert p_a == pytest.approx(np.bincount(a) / a.size, abs=1e-12)  # marginals unchanged
    assert p_y == pytest.approx(np.bincount(y) / y.size, abs=1e-12)
    unweighted = np.zeros((groups, classes))
    np.add.at(unweighted, (a, y), 1.0 / a.size)
    assert np.abs(unweighted - np.outer(p_a, p_y)).max() > 0.01  # it was dependent before


def test_reweighing_cannot_fill_an_empty_cell() -> None:
    """No rows of (b, 0): nothing to weight up, so b's rows keep their share of label 1."""
    w = reweighing_weights([0, 1, 0, 1, 1, 1], ["a", "a", "a", "a", "b", "b"])
    assert w.tolist() == pytest.approx([4 * 2 / 12, 4 * 4 / 12] * 2 + [2 * 4 / 12] * 2)


def _biased(seed: int, n: int):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, size=n)
    x = rng.normal(size=(n, 2))
    y = ((x[:, 0] + 1.2 * a + rng.normal(scale=0.8, size=n)) > 0.8).astype(int)
    return np.column_stack([x, a]), y, a


def test_reweighed_classifier_has_a_smaller_parity_gap() -> None:
    linear = pytest.importorskip("sklearn.linear_model")
    x, y, a = _biased(3, 4000)
    plain = linear.LogisticRegression().fit(x, y)
    weighted = linear.LogisticRegression().fit(x, y, sample_weight=reweighing_weights(y, a))
    before = fairness_metrics(y, plain.predict(x), a).demographic_parity_difference
    after = fairness_metrics(y, weighted.predict(x), a).demographic_parity_difference
    assert before > 0.3
    assert after < before / 2


@pytest.mark.parametrize(
    ("y", "sensitive", "field"),
    [
        ([], [], "y"),
        ([0, 1], ["a"], "sensitive"),
        ([0, np.nan], ["a", "b"], "y"),
        ([0, 1], ["a", None], "sensitive"),
        ([0, 1], np.array(["a", 1], dtype=object), "sensitive"),
    ],
)
def test_reweighing_rejects_bad_input(y: list, sensitive: list, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        reweighing_weights(y, sensitive)
    assert err.value.field == field


@pytest.fixture(scope="module")
def fitted():
    linear = pytest.importorskip("sklearn.linear_model")
    pytest.importorskip("fairlearn.postprocessing")
    x, y, a = _biased(4, 6000)
    train, test = slice(0, 3000), slice(3000, None)
    model = linear.LogisticRegression().fit(x[train], y[train])
    return model, x[test], y[test], a[test]


@pytest.mark.parametrize(
    ("constraint", "measure"),
    [
        ("demographic_parity", "demographic_parity_difference"),
        ("equalized_odds", "equalized_odds_difference"),
    ],
)
def test_threshold_optimizer_shrinks_the_gap(fitted, constraint: str, measure: str) -> None:
    model, x, y, a = fitted
    optimized = fit_threshold_optimizer(model, x, y, a, constraint=constraint)  # type: ignore[arg-type]
    assert isinstance(optimized, ThresholdOptimized)
    assert optimized.groups == (0, 1)
    decided = optimized.predict(x, a)
    assert set(np.unique(decided).tolist()) <= {0, 1}
    before = getattr(fairness_metrics(y, model.predict(x), a), measure)
    after = getattr(fairness_metrics(y, decided, a), measure)
    assert before > 0.2
    assert after < 0.05
    assert np.array_equal(decided, optimized.predict(x, a))  # the seed is fixed
    d = json.loads(json.dumps(optimized.to_dict(), allow_nan=False))
    assert d["constraint"] == constraint
    assert set(d["groups"]) == {"0", "1"}
    assert {"p0", "operator0", "threshold0", "p1"} <= d["groups"]["1"].keys()


def test_threshold_optimizer_rejects_bad_input(fitted) -> None:
    linear = pytest.importorskip("sklearn.linear_model")
    model, x, y, a = fitted
    cases = [
        ({"constraint": "calibration"}, "constraint"),
        ({"y": np.where(y == 1, "yes", "no")}, "y"),
        ({"y": y[:-1]}, "sensitive"),
        ({"X": x[:-1]}, "y"),
        ({"estimator": linear.LogisticRegression()}, "estimator"),
        ({"estimator": object()}, "estimator"),
    ]
    for change, field in cases:
        kwargs = {"estimator": model, "X": x, "y": y, "sensitive": a} | change
        with pytest.raises(InvalidInput) as err:
            fit_threshold_optimizer(**kwargs)
        assert err.value.field == field, change
    optimized = fit_threshold_optimizer(model, x, y, a)
    with pytest.raises(InvalidInput, match="not fitted on") as err:
        optimized.predict(x[:3], [0, 1, 2])
    assert err.value.field == "sensitive"
    with pytest.raises(InvalidInput) as err:
        optimized.predict(x[:3], [0, 1])
    assert err.value.field == "sensitive"


def test_threshold_optimizer_without_fairlearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fairlearn.postprocessing", None)
    with pytest.raises(NotFound, match=r"kiln-ml\[fairness\]"):
        fit_threshold_optimizer(object(), [[0.0]], [1], ["a"])
