"""The drift tests of kiln.monitoring._stats against SciPy, and their error rates."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from kiln.errors import InvalidInput
from kiln.monitoring._stats import (
    PSI_EPSILON,
    TestResult,
    category_counts,
    chi_square,
    choose_test,
    correct,
    cramer_von_mises,
    g_test,
    jensen_shannon,
    ks_test,
    psi,
    wasserstein,
)

SHAPES = [(5, 7), (40, 40), (300, 120), (1000, 2000)]
TOL = 1e-9


def _samples(seed: int, n_ref: int, n_cur: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_ref), rng.normal(0.2, 1.3, size=n_cur)


@pytest.mark.parametrize(("n_ref", "n_cur"), SHAPES)
def test_ks_matches_scipy(n_ref: int, n_cur: int) -> None:
    ref, cur = _samples(n_ref, n_ref, n_cur)
    ours, theirs = ks_test(ref, cur), stats.ks_2samp(ref, cur)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=TOL)
    assert ours.drift == (theirs.pvalue < 0.05)


@pytest.mark.parametrize(("n_ref", "n_cur"), SHAPES)
def test_cramer_von_mises_matches_scipy(n_ref: int, n_cur: int) -> None:
    ref, cur = _samples(n_cur, n_ref, n_cur)
    ours, theirs = cramer_von_mises(ref, cur), stats.cramervonmises_2samp(ref, cur)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=TOL)


@pytest.mark.parametrize(("n_ref", "n_cur"), SHAPES)
def test_wasserstein_is_scipy_distance_over_reference_std(n_ref: int, n_cur: int) -> None:
    ref, cur = _samples(n_ref + 1, n_ref, n_cur)
    result = wasserstein(ref, cur)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert result.statistic == pytest.approx(expected, abs=TOL)
    assert result.p_value is None
    assert result.drift == (expected > 0.1)


def test_wasserstein_constant_reference() -> None:
    assert wasserstein([1.0, 1.0], [1.0]).statistic == 0.0
    assert wasserstein([1.0, 1.0], [2.0]).statistic == float("inf")


def _tables(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for k in (2, 3, 10, 40):
        p = rng.dirichlet(np.ones(k) * 3)
        out.append((rng.multinomial(500, p), rng.multinomial(int(rng.integers(50, 900)), p)))
    return out


@pytest.mark.parametrize(("ref", "cur"), _tables(1))
def test_chi_square_matches_scipy_without_yates(ref: np.ndarray, cur: np.ndarray) -> None:
    table = np.vstack([ref, cur])[:, (ref + cur) > 0]
    theirs = stats.chi2_contingency(table, correction=False)
    ours = chi_square(ref, cur)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=TOL)
    assert ours.details["dof"] == theirs.dof


@pytest.mark.parametrize(("ref", "cur"), _tables(2))
def test_g_test_matches_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    table = np.vstack([ref, cur])[:, (ref + cur) > 0]
    theirs = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    ours = g_test(ref, cur)
    assert ours.statistic == pytest.approx(theirs.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=TOL)


@pytest.mark.parametrize(("ref", "cur"), _tables(3))
def test_jensen_shannon_matches_scipy(ref: np.ndarray, cur: np.ndarray) -> None:
    ours = jensen_shannon(ref, cur)
    assert ours.statistic == pytest.approx(distance.jensenshannon(ref, cur, base=2), abs=TOL)
    assert 0.0 <= ours.statistic <= 1.0


def test_category_absent_from_both_samples_is_dropped() -> None:
    result = chi_square([10, 0, 5], [8, 0, 9])
    theirs = stats.chi2_contingency([[10, 5], [8, 9]], correction=False)
    assert result.details["categories_used"] == 2
    assert result.p_value == pytest.approx(theirs.pvalue, abs=TOL)


def test_chi_square_two_sample_false_positive_rate() -> None:
    """Same-distribution samples, 1,000-row reference: rejections near the nominal 5 %."""
    rng = np.random.default_rng(20261203)
    for k in (3, 10, 40):
        p = rng.dirichlet(np.ones(k) * 5)
        rejections = sum(
            chi_square(rng.multinomial(1000, p), rng.multinomial(1000, p)).drift for _ in range(200)
        )
        assert abs(rejections / 200 - 0.05) <= 0.03, (k, rejections)


def test_ks_false_positive_rate() -> None:
    rng = np.random.default_rng(7)
    rejections = sum(ks_test(rng.normal(size=1000), rng.normal(size=500)).drift for _ in range(200))
    assert abs(rejections / 200 - 0.05) <= 0.03


def test_psi_numeric_by_hand() -> None:
    ref = np.arange(10.0)  # quantile edges 0, 4.5, 9 with bins=2
    cur = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])
    result = psi(ref, cur, bins=2)
    r, c = np.array([0.5, 0.5]), np.array([5 / 8, 3 / 8])
    assert result.statistic == pytest.approx(np.sum((c - r) * np.log(c / r)), abs=TOL)
    assert result.details["edges"] == [0.0, 4.5, 9.0]


def test_psi_empty_bin_uses_epsilon() -> None:
    result = psi(["a", "a", "b"], ["a", "a"])
    r, c = np.array([2 / 3, 1 / 3]), np.array([1.0, PSI_EPSILON])
    assert result.statistic == pytest.approx(np.sum((c - r) * np.log(c / r)), abs=TOL)
    assert result.details["categories"] == ["a", "b"]


def test_psi_quarter_sd_shift_is_measured_not_flagged() -> None:
    """A 0.25-sd mean shift gives PSI about 0.08 at n = 1,000: below the 0.2 default.

    docs/monitoring.md reports this: the mean PSI reaches 0.2 near a 0.45-sd shift.
    """
    rng = np.random.default_rng(11)
    values = [
        psi(rng.normal(size=1000), rng.normal(0.25, 1.0, size=1000)).statistic for _ in range(50)
    ]
    assert 0.04 < float(np.mean(values)) < 0.12


def test_nans_are_dropped_and_counted() -> None:
    result = ks_test([1.0, np.nan, 2.0, 3.0], [np.nan, np.nan, 2.5, 4.0])
    assert result.details["nan_reference"] == 1
    assert result.details["nan_current"] == 2
    assert result.p_value == pytest.approx(stats.ks_2samp([1, 2, 3], [2.5, 4]).pvalue, abs=TOL)
    assert psi(["a", None, "b"], ["a", np.nan]).details["nan_current"] == 1


@pytest.mark.parametrize("func", [ks_test, wasserstein, cramer_von_mises, psi])
def test_empty_input_names_the_argument(func: Callable[..., TestResult]) -> None:
    with pytest.raises(InvalidInput, match="current") as info:
        func([1.0, 2.0, 3.0], [np.nan])
    assert info.value.field == "current"
    with pytest.raises(InvalidInput, match="reference"):
        func([], [1.0, 2.0])


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(InvalidInput, match="current_counts"):
        chi_square([1, 2], [1, 2, 3])
    with pytest.raises(InvalidInput, match="reference_counts"):
        g_test([], [])
    with pytest.raises(InvalidInput, match="reference_counts"):
        jensen_shannon([-1, 2], [1, 2])


def test_category_counts_aligns() -> None:
    cats, ref, cur = category_counts(["b", "a", "b", None], ["c", "a"])
    assert cats == ["a", "b", "c"]
    assert ref.tolist() == [1, 2, 0]
    assert cur.tolist() == [1, 0, 1]


def test_choose_test_rules() -> None:
    assert choose_test("numeric", 1000, 10) == "ks"
    assert choose_test("numeric", 1001, 10) == "wasserstein"
    assert choose_test("categorical", 500, 500, n_categories=10) == "chi_square"
    assert choose_test("categorical", 500, 40, n_categories=10) == "jensen_shannon"
    assert choose_test("categorical", 5000, 5000) == "jensen_shannon"
    with pytest.raises(InvalidInput):
        choose_test("text", 10, 10)  # type: ignore[arg-type]


def test_corrections_by_hand() -> None:
    p = [0.01, 0.04, 0.03, 0.20]
    assert correct(p, "bonferroni").tolist() == pytest.approx([0.04, 0.16, 0.12, 0.80])
    # Holm: sorted 0.01, 0.03, 0.04, 0.20 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08->0.09, 0.20
    assert correct(p, "holm").tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 -> 0.04, 0.06, 0.0533, 0.20, then running min from top
    assert correct(p, "fdr_bh").tolist() == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert correct([0.5, 0.9], "bonferroni").tolist() == [1.0, 1.0]


def test_fdr_bh_matches_scipy() -> None:
    p = np.random.default_rng(5).uniform(size=37) ** 3
    assert correct(p, "fdr_bh") == pytest.approx(stats.false_discovery_control(p), abs=TOL)


def test_correct_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="method"):
        correct([0.1], "sidak")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="p_values"):
        correct([1.5])


def test_result_is_frozen() -> None:
    result = ks_test([1.0, 2.0], [3.0, 4.0])
    assert isinstance(result, TestResult)
    with pytest.raises(AttributeError):
        result.drift = True  # type: ignore[misc]
