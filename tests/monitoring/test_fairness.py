"""Group fairness of kiln.monitoring._fairness against fairlearn and the four-fifths rule."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.monitoring._fairness import FairnessReport, fairness_by_attribute, fairness_metrics

fm = pytest.importorskip("fairlearn.metrics")
skm = pytest.importorskip("sklearn.metrics")

TOL = 1e-12


def _biased(seed: int, n: int, groups: tuple[str, ...]):
    rng = np.random.default_rng(seed)
    sensitive = rng.choice(np.array(groups), size=n)
    bias = np.searchsorted(np.array(sorted(groups)), sensitive) * 0.1
    y = (rng.uniform(size=n) < 0.3 + bias).astype(int)
    pred = (rng.uniform(size=n) < 0.2 + bias + 0.4 * y).astype(int)
    return y, pred, sensitive


@pytest.mark.parametrize(
    ("seed", "n", "groups"), [(1, 40, ("a", "b")), (2, 5000, ("w", "x", "y", "z"))]
)
def test_matches_fairlearn(seed: int, n: int, groups: tuple[str, ...]) -> None:
    y, pred, s = _biased(seed, n, groups)
    report = fairness_metrics(y, pred, s)
    frame = fm.MetricFrame(
        metrics={
            "selection_rate": fm.selection_rate,
            "tpr": fm.true_positive_rate,
            "fpr": fm.false_positive_rate,
            "accuracy": skm.accuracy_score,
        },
        y_true=y,
        y_pred=pred,
        sensitive_features=s,
    )
    by_group = frame.by_group
    assert list(report.groups) == list(by_group.index)
    for name, rates in report.groups.items():
        assert rates.count == int((s == name).sum())
        for metric in ("selection_rate", "tpr", "fpr", "accuracy"):
            assert getattr(rates, metric) == pytest.approx(by_group.loc[name, metric], abs=TOL)
    kwargs = {"sensitive_features": s}
    dpd = fm.demographic_parity_difference(y, pred, **kwargs)
    assert report.demographic_parity_difference == pytest.approx(dpd, abs=TOL)
    dpr = fm.demographic_parity_ratio(y, pred, **kwargs)
    assert report.demographic_parity_ratio == pytest.approx(dpr, abs=TOL)
    eod = fm.equalized_odds_difference(y, pred, **kwargs)
    assert report.equalized_odds_difference == pytest.approx(eod, abs=TOL)
    # The default reference is the most selected group, so the minimum impact is the DP ratio.
    assert report.disparate_impact == pytest.approx(dpr, abs=TOL)
    assert report.groups[report.reference_group].disparate_impact == 1.0


def test_four_fifths_rule_example_of_the_uniform_guidelines() -> None:
    """29 CFR 1607.4(D): selection rates 60 %, 45 %, 48 %, 51 %; 45/60 = 75 % is adverse impact."""
    rates = {"White": 60, "American Indian": 45, "Hispanic": 48, "Black": 51}
    sensitive = np.repeat(list(rates), 100)
    pred = np.concatenate([np.arange(100) < r for r in rates.values()]).astype(int)
    report = fairness_metrics(None, pred, sensitive)
    assert report.reference_group == "White"
    assert report.worst_group == "American Indian"
    assert report.disparate_impact == pytest.approx(0.75, abs=TOL)
    impact = {g: r.disparate_impact for g, r in report.groups.items()}
    expected = {"White": 1.0, "American Indian": 0.75, "Hispanic": 0.8, "Black": 0.85}
    assert impact == pytest.approx(expected)
    assert report.demographic_parity_difference == pytest.approx(0.15, abs=TOL)
    black = fairness_metrics(None, pred, sensitive, reference_group="Black")
    assert black.reference_group == "Black"
    assert black.groups["White"].disparate_impact == pytest.approx(60 / 51, abs=TOL)
    assert black.disparate_impact == pytest.approx(45 / 51, abs=TOL)


def test_without_labels_only_selection_measures() -> None:
    y, pred, s = _biased(3, 300, ("a", "b", "c"))
    labelled, unlabelled = fairness_metrics(y, pred, s), fairness_metrics(None, pred, s)
    assert unlabelled.equalized_odds_difference is None
    for rates in unlabelled.groups.values():
        assert (rates.tpr, rates.fpr, rates.accuracy) == (None, None, None)
    assert unlabelled.demographic_parity_difference == labelled.demographic_parity_difference
    assert unlabelled.disparate_impact == labelled.disparate_impact


def test_undefined_rates_are_none_and_left_out_of_equalized_odds() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 0])
    pred = np.array([1, 0, 0, 1, 1, 1, 0, 0])
    s = np.array(["a", "a", "a", "b", "b", "c", "c", "c"])  # group a has no positives
    report = fairness_metrics(y, pred, s)
    assert report.groups["a"].tpr is None
    assert report.groups["a"].fpr == pytest.approx(1 / 3)
    tprs = [report.groups[g].tpr for g in "bc"]
    assert tprs == [1.0, 0.5]
    fprs = [report.groups[g].fpr for g in "abc"]
    assert fprs == pytest.approx([1 / 3, 1.0, 0.0])
    assert report.equalized_odds_difference == pytest.approx(max(0.5, 1.0))


def test_text_labels_and_bool_predictions() -> None:
    y = np.array(["deny", "grant", "grant", "deny"])
    pred = np.array(["grant", "grant", "deny", "deny"])
    s = ["m", "m", "f", "f"]
    report = fairness_metrics(y, pred, s, positive="grant")
    assert report.groups["m"].selection_rate == 1.0
    assert report.groups["f"].tpr == 0.0
    with pytest.raises(InvalidInput, match="positive") as err:
        fairness_metrics(y, pred, s)  # positive=1 is not a label here
    assert err.value.field == "positive"
    flags = fairness_metrics([True, False], [True, True], ["m", "f"], positive=True)
    assert flags.groups["f"].fpr == 1.0


def test_degenerate_batches() -> None:
    nobody = fairness_metrics([0, 0, 0], [0, 0, 0], ["a", "b", "b"])
    assert nobody.demographic_parity_difference == 0.0
    assert nobody.demographic_parity_ratio is None
    assert nobody.disparate_impact is None
    assert nobody.equalized_odds_difference == 0.0  # FPRs 0 and 0; no group has positives
    one_group = fairness_metrics([1, 0], [1, 1], ["a", "a"])
    assert one_group.demographic_parity_difference == 0.0
    assert one_group.demographic_parity_ratio == 1.0
    assert one_group.worst_group == one_group.reference_group == "a"
    json.dumps(nobody.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("y_true", "y_pred", "sensitive", "kwargs", "field"),
    [
        ([], [], [], {}, "y_pred"),
        ([0, 1], [0, 1, 1], ["a", "b", "b"], {}, "y_true"),
        ([0, 1], [0, 1], ["a"], {}, "sensitive"),
        ([0, 1], [0, 1], ["a", None], {}, "sensitive"),
        ([0, 1], [0, 1], [1.0, np.nan], {}, "sensitive"),
        ([0, 1], [0, np.nan], ["a", "b"], {}, "y_pred"),
        (None, [0, 1], ["a", "b"], {"reference_group": "c"}, "reference_group"),
        (None, [0, 1], np.array(["a", 1], dtype=object), {}, "sensitive"),
    ],
)
def test_rejects_bad_input(y_true, y_pred, sensitive, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        fairness_metrics(y_true, y_pred, sensitive, **kwargs)
    assert err.value.field == field


def test_by_attribute_equals_one_call_per_attribute() -> None:
    y, pred, sex = _biased(4, 500, ("f", "m"))
    age = np.random.default_rng(4).choice(["young", "old"], size=500)
    frame = pd.DataFrame({"sex": sex, "age": age})
    for sensitive in ({"sex": sex, "age": age}, frame):
        reports = fairness_by_attribute(y, pred, sensitive, reference_groups={"age": "old"})
        assert list(reports) == ["sex", "age"]
        assert reports["sex"] == fairness_metrics(y, pred, sex)
        assert reports["age"] == fairness_metrics(y, pred, age, reference_group="old")
        assert isinstance(reports["age"], FairnessReport)


def test_by_attribute_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput) as err:
        fairness_by_attribute([1], [1], {})
    assert err.value.field == "sensitive"
    with pytest.raises(InvalidInput) as err:
        fairness_by_attribute([1], [1], ["a"])  # type: ignore[arg-type]
    assert err.value.field == "sensitive"
    with pytest.raises(InvalidInput) as err:
        fairness_by_attribute([1], [1], {"sex": ["f"]}, reference_groups={"age": "old"})
    assert err.value.field == "reference_groups"
    with pytest.raises(InvalidInput) as err:
        fairness_by_attribute([1, 0], [1, 0], {"sex": ["f", "m"]}, reference_groups={"sex": "x"})
    assert err.value.field == "reference_groups['sex']"
    with pytest.raises(InvalidInput) as err:
        fairness_by_attribute([1, 0], [1, 0], {"sex": ["f", "m"], "age": ["old"]})
    assert err.value.field == "sensitive['age']"


def test_to_dict_is_plain_json() -> None:
    y, pred, s = _biased(5, 100, ("a", "b"))
    d = json.loads(json.dumps(fairness_metrics(y, pred, s).to_dict(), allow_nan=False))
    assert set(d["groups"]) == {"a", "b"}
    fields = {"count", "selection_rate", "tpr", "fpr", "accuracy", "disparate_impact"}
    assert d["groups"]["a"].keys() == fields
    numeric = fairness_metrics([1, 0], [1, 0], np.array([3, 7]))
    assert set(numeric.to_dict()["groups"]) == {"3", "7"}
    assert list(numeric.groups) == [3, 7]
