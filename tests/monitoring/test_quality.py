"""Data-quality findings against a reference profile (``_quality.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kiln.errors import InvalidInput
from kiln.monitoring._profiling import build_profile
from kiln.monitoring._quality import QualityLimits, check_quality

REFERENCE = pd.DataFrame(
    {
        "amount": np.linspace(0.0, 100.0, 1_000),
        "hour": np.tile(np.arange(24), 42)[:1_000],
        "city": np.array(["paris", "lyon", "nice", "lille"] * 250),
        "flag": np.array([True, False] * 500),
        "sometimes": np.where(np.arange(1_000) % 10 == 0, np.nan, 1.0),
    }
)
PROFILE = build_profile(REFERENCE)


def _checks(report: object) -> set[tuple[str, str | None]]:
    return {(f.check, f.column) for f in report.findings}  # type: ignore[attr-defined]


def test_clean_data_has_no_findings() -> None:
    report = check_quality(PROFILE, REFERENCE.sample(400, random_state=1))
    assert report.findings == ()
    assert report.columns["amount"]["out_of_range"] == 0
    assert report.columns["sometimes"]["reference_null_share"] == pytest.approx(0.1)


def test_each_problem_becomes_its_finding() -> None:
    current = pd.DataFrame(
        {
            "amount": np.concatenate(
                [np.linspace(0, 100, 90), [-5.0, 150.0, np.inf] + [200.0] * 7]
            ),
            "hour": ["7"] * 100,
            "city": ["paris"] * 60 + ["berlin"] * 30 + ["rome"] * 10,
            "flag": [True] * 100,
            "sometimes": [np.nan] * 100,
        }
    )
    report = check_quality(PROFILE, current)
    assert _checks(report) == {
        ("out_of_range", "amount"),
        ("type_error", "hour"),
        ("unseen_category", "city"),
        ("constant", "flag"),
        ("all_null", "sometimes"),
    }
    by_check = {f.check: f for f in report.findings}
    assert by_check["out_of_range"].count == 10
    assert "1 below the reference minimum 0" in by_check["out_of_range"].detail
    assert "8 above the reference maximum 100" in by_check["out_of_range"].detail
    assert "1 infinite" in by_check["out_of_range"].detail
    assert by_check["unseen_category"].count == 40
    assert "'berlin', 'rome'" in by_check["unseen_category"].detail
    assert report.columns["city"]["unseen_categories"] == ["berlin", "rome"]
    assert [f.severity for f in report.findings][:2] == ["critical", "critical"]


def test_more_nulls_than_the_reference_is_a_finding_past_the_limit() -> None:
    current = REFERENCE.head(100).copy()
    current.loc[:19, "amount"] = np.nan
    assert _checks(check_quality(PROFILE, current)) == {("null_share", "amount")}
    relaxed = check_quality(PROFILE, current, limits=QualityLimits(null_increase=0.5))
    assert relaxed.findings == ()


def test_a_missing_column_and_an_empty_window_are_findings() -> None:
    report = check_quality(PROFILE, REFERENCE.drop(columns=["city"]))
    assert _checks(report) == {("missing_column", "city")}
    empty = check_quality(PROFILE, REFERENCE.iloc[:0])
    assert [(f.check, f.column) for f in empty.findings] == [("empty_window", None)]


def test_type_errors_counted_by_the_caller_are_findings() -> None:
    report = check_quality(PROFILE, REFERENCE.head(10), type_errors={"amount": 3, "hour": 0})
    assert [(f.check, f.column, f.count) for f in report.findings] == [("type_error", "amount", 3)]


def test_bad_arguments_name_the_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        check_quality(PROFILE, REFERENCE, columns=["nope"])
    assert caught.value.field == "columns"
    with pytest.raises(InvalidInput) as caught:
        QualityLimits(out_of_range=2)
    assert caught.value.field == "out_of_range"
