"""Outlier shares of kiln.monitoring._outliers: robust z-scores by hand and by SciPy, the forest."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kiln.errors import InvalidInput, NotFound
from kiln.monitoring._outliers import MAD_SCALE, MEAN_AD_SCALE, OutlierResult, outlier_share


def test_worked_example() -> None:
    reference = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100]  # median 5.5, MAD 2.5: |x - 5.5| > 12.97
    result = outlier_share(reference, [5.0, 18.0, 19.0, -8.0, np.nan])
    assert result.method == "robust_z"
    assert (result.n, result.count) == (5, 2)  # 19 and -8 (13.5 away); 18 is 12.5 away
    assert result.share == pytest.approx(0.4)
    assert result.columns == {"0": pytest.approx(0.4)}
    assert result.details["median"] == {"0": 5.5}
    assert result.details["scale"]["0"] == pytest.approx(MAD_SCALE * 2.5)
    assert result.reference_share == pytest.approx(0.1)  # 100 itself


def test_z_scores_match_scipy_mad() -> None:
    rng = np.random.default_rng(1)
    ref = rng.standard_t(3, size=(500, 3))
    cur = rng.standard_t(3, size=(400, 3)) * 1.5
    result = outlier_share(ref, cur, threshold=3.0)
    z = (cur - np.median(ref, axis=0)) / (MAD_SCALE * stats.median_abs_deviation(ref, axis=0))
    flags = np.abs(z) > 3.0
    assert result.count == int(flags.any(axis=1).sum())
    assert list(result.columns.values()) == pytest.approx(flags.mean(axis=0))  # type: ignore[union-attr]
    # SciPy's exact constant 1/Φ⁻¹(3/4) differs from 1.4826 in the seventh digit.
    normal = stats.median_abs_deviation(ref, axis=0, scale="normal")
    assert list(result.details["scale"].values()) == pytest.approx(normal, rel=1e-5)


def test_clean_and_injected_normal_data() -> None:
    rng = np.random.default_rng(2)
    ref = rng.normal(size=(20_000, 3))
    clean = rng.normal(size=(20_000, 3))
    expected = 1 - (1 - 2 * stats.norm.sf(3.5)) ** 3  # 0.0014: any of three |z| > 3.5
    base = outlier_share(ref, clean)
    assert base.share == pytest.approx(expected, abs=0.001)
    assert base.reference_share == pytest.approx(expected, abs=0.001)
    dirty = clean.copy()
    dirty[:200, 2] = 8.0
    found = outlier_share(ref, dirty)
    assert 200 <= found.count <= 200 + base.count
    assert found.columns["2"] >= 200 / 20_000  # type: ignore[index]
    assert found.columns["0"] == base.columns["0"]  # type: ignore[index]


def test_zero_mad_falls_back_to_mean_absolute_deviation() -> None:
    ref = np.array([0.0] * 6 + [1.0, 2.0, 4.0, 8.0])  # MAD 0, mean |x - 0| = 1.5
    result = outlier_share(ref, [0.0, 7.0, 8.0])
    assert result.details["scale_source"] == {"0": "mean_absolute_deviation"}
    assert result.details["scale"]["0"] == pytest.approx(MEAN_AD_SCALE * 1.5)
    assert result.count == 2  # 7 and 8 lie beyond 3.5 * 1.253314 * 1.5 = 6.58


def test_constant_reference_column() -> None:
    ref = {"flag": [0.0, 0.0, 0.0], "x": [1.0, 2.0, 3.0]}
    result = outlier_share(ref, {"flag": [0.0, 1.0, 0.0], "x": [2.0, 2.0, 2.0]})
    assert result.details["scale_source"]["flag"] == "constant"
    assert result.columns == {"flag": pytest.approx(1 / 3), "x": 0.0}
    assert result.count == 1


def test_missing_and_infinite_values() -> None:
    ref = np.array([[1.0, np.nan], [2.0, 5.0], [3.0, np.inf], [4.0, 6.0], [np.nan, 7.0]])
    result = outlier_share(ref, [[np.nan, np.nan], [2.0, np.inf], [2.5, 6.0]])
    assert result.details["median"] == {"0": 2.5, "1": 6.0}
    assert result.count == 1  # +inf is an outlier; NaN never is
    assert result.n == 3


def test_mappings_and_dataframes() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    cur = {"b": np.r_[rng.normal(size=99), 50.0], "a": rng.normal(size=100), "extra": np.zeros(100)}
    by_frame = outlier_share(ref, pd.DataFrame(cur))
    by_dict = outlier_share(dict(ref.items()), cur)
    assert by_frame == by_dict
    assert list(by_frame.columns) == ["a", "b"]  # type: ignore[arg-type]
    assert by_frame.columns["b"] >= 0.01  # type: ignore[index]


@pytest.mark.parametrize(
    ("reference", "current", "kwargs", "field"),
    [
        ([1.0, 2.0], [1.0], {"method": "lof"}, "method"),
        ([1.0, 2.0], [1.0], {"threshold": 0}, "threshold"),
        ([1.0, 2.0], [1.0], {"threshold": float("nan")}, "threshold"),
        ([1.0, 2.0], [1.0], {"contamination": 0.0}, "contamination"),
        ([1.0, 2.0], [1.0], {"contamination": 0.6}, "contamination"),
        ([], [1.0], {}, "reference"),
        ([1.0, 2.0], [], {}, "current"),
        (np.zeros((3, 2)), np.zeros((3, 3)), {}, "current"),
        (np.zeros((2, 2, 2)), np.zeros((2, 2)), {}, "reference"),
        (["a", "b"], ["a"], {}, "reference"),
        ({"x": [1.0, 2.0]}, {"y": [1.0]}, {}, "current"),
        ({"x": [1.0, 2.0]}, [[1.0]], {}, "current"),
        ({"x": [1.0, 2.0], "y": [1.0]}, {"x": [1.0], "y": [1.0]}, {}, "reference"),
        ({"x": ["a", "b"]}, {"x": [1.0]}, {}, "reference['x']"),
        ({}, {}, {}, "reference"),
        ({"x": [np.nan, np.nan]}, {"x": [1.0]}, {}, "reference"),
    ],
)
def test_rejects_bad_input(reference, current, kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        outlier_share(reference, current, **kwargs)
    assert err.value.field == field


def _forest_data(seed: int):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3))


def test_isolation_forest_share_on_clean_and_injected_data() -> None:
    pytest.importorskip("sklearn.ensemble")
    ref, clean = _forest_data(4)
    base = outlier_share(ref, clean, method="isolation_forest")
    assert base.method == "isolation_forest"
    assert base.columns is None
    assert base.reference_share == pytest.approx(0.01, abs=0.001)
    assert base.share == pytest.approx(0.01, abs=0.01)
    dirty = clean.copy()
    dirty[:100] = 5.0  # every column far out
    found = outlier_share(ref, dirty, method="isolation_forest", contamination=0.05)
    assert found.count >= 100
    assert found.reference_share == pytest.approx(0.05, abs=0.002)
    assert found == outlier_share(ref, dirty, method="isolation_forest", contamination=0.05)


def test_isolation_forest_treats_missing_as_typical() -> None:
    pytest.importorskip("sklearn.ensemble")
    ref, clean = _forest_data(5)
    ref[::50, 0] = np.nan
    holes = clean.copy()
    holes[:, 1] = np.nan
    result = outlier_share(ref, holes, method="isolation_forest")
    assert result.share <= 0.05
    far = outlier_share(ref, np.full((5, 3), np.inf), method="isolation_forest")
    assert far.count == 5


def test_isolation_forest_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.ensemble", None)
    with pytest.raises(NotFound, match=r"kiln-ml\[ml\]"):
        outlier_share([1.0, 2.0], [1.0], method="isolation_forest")


def test_to_dict_is_plain_json() -> None:
    result = outlier_share(np.arange(10.0), [1.0, 50.0])
    assert isinstance(result, OutlierResult)
    d = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert d["columns"] == {"0": 0.5}
    assert d["share"] == 0.5
