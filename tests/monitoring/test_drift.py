"""Drift per column against raw reference rows and against a stored profile (``_drift.py``)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from scipy import stats

from kiln.errors import InvalidInput
from kiln.monitoring import _stats
from kiln.monitoring._against_profile import ks_against, psi_against, wasserstein_against
from kiln.monitoring._drift import check_drift
from kiln.monitoring._profiling import build_profile, numeric_column
from kiln.monitoring._reference import QUANTILE_POINTS, ReferenceProfile


def _column(values: np.ndarray) -> pa.ChunkedArray:
    return pa.chunked_array([values])


def _frame(rng: np.random.Generator, n: int, *, shifted: bool = False) -> pd.DataFrame:
    data: dict[str, object] = {f"n{i}": rng.normal(size=n) for i in range(6)}
    data |= {f"c{i}": rng.choice(list("abcdef"), size=n) for i in range(3)}
    data["count"] = rng.poisson(3.0, size=n)
    if shifted:
        data["n0"] = rng.normal(0.6, 1.0, size=n)
        data["n1"] = rng.normal(0.0, 1.8, size=n)
        data["c0"] = rng.choice(list("abcdef"), size=n, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    return pd.DataFrame(data)


# --- against a sketch: exact sketches agree with SciPy on the raw reference ----------


@pytest.mark.parametrize("n_ref", [20_000, 60_000])
def test_an_exact_sketch_gives_scipys_ks_and_wasserstein(n_ref: int) -> None:
    rng = np.random.default_rng(n_ref)
    reference = rng.integers(0, 400, n_ref).astype(float)
    current = rng.integers(0, 410, 15_000).astype(float)
    sketch = build_profile(pa.table({"x": reference})).columns["x"]
    assert sketch.exact  # type: ignore[union-attr]
    numbers = numeric_column(_column(current))

    ks = ks_against(sketch, numbers, threshold=0.05)  # type: ignore[arg-type]
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert ks.statistic == pytest.approx(expected.statistic, abs=1e-12)
    assert ks.p_value == pytest.approx(expected.pvalue, abs=1e-9)

    distance = wasserstein_against(sketch, numbers, threshold=0.1)  # type: ignore[arg-type]
    expected_w = stats.wasserstein_distance(reference, current) / reference.std()
    assert distance.statistic == pytest.approx(expected_w, abs=1e-9)

    assert psi_against(sketch, numbers, threshold=0.2).statistic == pytest.approx(  # type: ignore[arg-type]
        _stats.psi(reference, current).statistic, abs=1e-12
    )


def test_a_small_exact_sketch_uses_scipys_exact_p_value() -> None:
    rng = np.random.default_rng(7)
    reference = rng.integers(0, 30, 800).astype(float)
    current = rng.integers(0, 30, 300).astype(float)
    sketch = build_profile(pa.table({"x": reference})).columns["x"]
    ks = ks_against(sketch, numeric_column(_column(current)), threshold=0.05)  # type: ignore[arg-type]
    expected = stats.ks_2samp(reference, current)
    assert (ks.statistic, ks.p_value) == pytest.approx(
        (expected.statistic, expected.pvalue), abs=1e-12
    )


def test_a_quantile_sketch_is_within_its_resolution_of_scipy() -> None:
    rng = np.random.default_rng(3)
    reference = rng.lognormal(size=200_000)
    current = rng.lognormal(0.05, 1.05, size=50_000)
    sketch = build_profile(pa.table({"x": reference})).columns["x"]
    assert not sketch.exact  # type: ignore[union-attr]
    numbers = numeric_column(_column(current))
    ks = ks_against(sketch, numbers, threshold=0.05)  # type: ignore[arg-type]
    expected = stats.ks_2samp(reference, current, method="asymp").statistic
    # Between two stored quantiles the sketch's CDF is off by at most one step.
    assert abs(ks.statistic - expected) <= 1 / (QUANTILE_POINTS - 1) + 1e-12
    w = wasserstein_against(sketch, numbers, threshold=0.1).statistic  # type: ignore[arg-type]
    expected_w = stats.wasserstein_distance(reference, current) / reference.std()
    assert w == pytest.approx(expected_w, rel=0.02)


def test_a_large_current_sample_is_read_at_quantile_levels_close_to_the_exact_integral() -> None:
    from kiln.monitoring._against_profile import (
        CURRENT_LEVELS,
        _wasserstein_distance,
        _wasserstein_on_levels,
    )

    rng = np.random.default_rng(21)
    for draw in (rng.normal, rng.lognormal, lambda size: rng.standard_t(3, size=size)):
        reference = draw(size=100_000)
        sketch = build_profile(pa.table({"x": reference})).columns["x"]
        current = numeric_column(_column(draw(size=1_000_000) * 1.1 + 0.05))
        assert len(current.sorted) > CURRENT_LEVELS
        exact = _wasserstein_distance(sketch, current.sorted)  # type: ignore[arg-type]
        levels = _wasserstein_on_levels(sketch, current.sorted)  # type: ignore[arg-type]
        assert abs(levels - exact) < 1e-3 * reference.std()
        result = wasserstein_against(sketch, current, threshold=0.1)  # type: ignore[arg-type]
        assert result.details["current_levels"] == CURRENT_LEVELS
        assert result.statistic == pytest.approx(levels / reference.std())


def test_the_profile_survives_json_and_gives_the_same_results() -> None:
    rng = np.random.default_rng(11)
    reference, current = _frame(rng, 5_000), _frame(rng, 3_000, shifted=True)
    profile = build_profile(reference, source={"kind": "dataset_version", "name": "x@1"})
    loaded = ReferenceProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert loaded == profile
    assert check_drift(loaded, current).to_dict() == check_drift(profile, current).to_dict()


def test_not_a_profile_is_refused() -> None:
    with pytest.raises(InvalidInput, match="not a Kiln reference profile") as caught:
        ReferenceProfile.from_dict({"rows": 3})
    assert caught.value.field == "profile"


# --- check_drift --------------------------------------------------------------------


def test_raw_reference_rows_give_the_statistical_tests_own_numbers() -> None:
    rng = np.random.default_rng(5)
    reference, current = _frame(rng, 900), _frame(rng, 700, shifted=True)
    report = check_drift(reference, current, tests={"n2": "cramer_von_mises", "n3": "wasserstein"})
    assert report.columns["n0"].result == _stats.ks_test(
        reference["n0"], current["n0"]
    )  # ≤ 1,000 reference rows: KS, exact
    assert report.columns["n2"].result.statistic == pytest.approx(  # type: ignore[union-attr]
        stats.cramervonmises_2samp(reference["n2"], current["n2"]).statistic, abs=1e-12
    )
    assert report.columns["n3"].result.statistic == pytest.approx(  # type: ignore[union-attr]
        _stats.wasserstein(reference["n3"], current["n3"]).statistic, abs=1e-12
    )
    _, ref_counts, cur_counts = _stats.category_counts(reference["c1"], current["c1"])
    chi = report.columns["c1"].result
    assert chi is not None
    assert chi.test == "chi_square"
    assert chi.p_value == pytest.approx(
        _stats.chi_square(ref_counts, cur_counts).p_value, abs=1e-12
    )


def test_injected_drift_is_found_in_exactly_those_columns() -> None:
    rng = np.random.default_rng(2)
    reference, current = _frame(rng, 30_000), _frame(rng, 20_000, shifted=True)
    for ref in (reference, build_profile(reference)):
        report = check_drift(ref, current)
        assert sorted(report.drifted_columns) == ["c0", "n0", "n1"]
        assert report.checked == 10
        assert report.drifted == 3
        assert report.share == pytest.approx(0.3)
        assert not report.dataset_drift
        assert check_drift(ref, current, drift_share=0.3).dataset_drift


def test_the_false_positive_rate_against_a_profile_stays_at_alpha() -> None:
    rng = np.random.default_rng(12)
    rejections = 0
    runs = 200
    for _ in range(runs):
        profile = build_profile(pa.table({"x": rng.normal(size=12_000)}))
        report = check_drift(profile, pa.table({"x": rng.normal(size=2_000)}), tests="ks")
        rejections += report.columns["x"].drift
    assert abs(rejections / runs - 0.05) <= 0.03


def test_a_correction_adjusts_the_p_values_over_the_columns() -> None:
    rng = np.random.default_rng(8)
    reference, current = _frame(rng, 600), _frame(rng, 500, shifted=True)
    plain = check_drift(reference, current)
    corrected = check_drift(reference, current, correction="holm")
    tested = [n for n, c in plain.columns.items() if c.result and c.result.p_value is not None]
    raw = [plain.columns[n].result.p_value for n in tested]  # type: ignore[union-attr]
    adjusted = _stats.correct(raw, "holm")  # type: ignore[arg-type]
    for name, p in zip(tested, adjusted, strict=True):
        assert corrected.columns[name].adjusted_p_value == pytest.approx(p)
        assert corrected.columns[name].drift == (p < 0.05)
    assert {"n0", "n1", "c0"} <= set(corrected.drifted_columns)


def test_overlays_hold_both_distributions_on_shared_bins() -> None:
    rng = np.random.default_rng(4)
    reference, current = _frame(rng, 2_000), _frame(rng, 1_000, shifted=True)
    report = check_drift(build_profile(reference), current).to_dict()
    histogram = report["columns"]["n0"]["histogram"]
    assert len(histogram["edges"]) == len(histogram["reference"]) + 1 == 21
    assert sum(histogram["reference"]) == 2_000
    assert sum(histogram["current"]) == 1_000
    categories = report["columns"]["c0"]["categories"]
    assert sorted(categories["values"]) == list("abcdef")
    assert sum(categories["current"]) == 1_000
    json.dumps(report)


# --- what cannot be tested is reported, never a crash -------------------------------


def test_columns_that_cannot_be_tested_say_why() -> None:
    reference = pd.DataFrame(
        {
            "x": np.arange(100.0),
            "gone": np.arange(100.0),
            "empty": np.arange(100.0),
            "kind": ["a", "b"] * 50,
            "when": pd.date_range("2026-01-01", periods=100, tz="UTC"),
            "nothing": [None] * 100,
        }
    )
    current = pd.DataFrame(
        {
            "x": np.arange(50.0),
            "empty": [np.nan] * 50,
            "kind": ["a"] * 50,
            "when": pd.date_range("2026-02-01", periods=50, tz="UTC"),
            "nothing": [None] * 50,
        }
    )
    report = check_drift(reference, current)
    assert report.columns["gone"].skipped == "missing from the current data"
    assert report.columns["empty"].skipped == "no finite values in the current data"
    assert "has no drift test" in (report.columns["when"].skipped or "")
    assert report.columns["nothing"].skipped is not None
    assert report.columns["kind"].result is not None  # one category left: tested, not a crash
    assert report.checked == 2


def test_an_empty_current_table_checks_nothing() -> None:
    reference = pd.DataFrame({"x": np.arange(10.0)})
    report = check_drift(reference, reference.iloc[:0])
    assert report.checked == 0
    assert report.share == 0.0
    assert not report.dataset_drift


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"tests": {"x": "chi_square"}}, "tests"),
        ({"tests": "nope"}, "tests"),
        ({"thresholds": {"nope": 1.0}}, "thresholds"),
        ({"correction": "sidak"}, "correction"),
        ({"drift_share": 0.0}, "drift_share"),
        ({"columns": ["absent"]}, "columns"),
    ],
)
def test_bad_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    frame = pd.DataFrame({"x": np.arange(20.0), "k": ["a", "b"] * 10})
    with pytest.raises(InvalidInput) as caught:
        check_drift(frame, frame, **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_test_that_needs_the_rows_is_refused_with_only_a_profile() -> None:
    frame = pd.DataFrame({"x": np.arange(20.0)})
    with pytest.raises(InvalidInput, match="needs the reference rows"):
        check_drift(build_profile(frame), frame, tests="cramer_von_mises")


def test_current_data_of_an_unreadable_kind_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_drift(pd.DataFrame({"x": [1.0]}), [1, 2, 3])
    assert caught.value.field == "current"
