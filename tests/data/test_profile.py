"""Profiles: each number checked against NumPy or pandas, and stored versions' profiles kept."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sqlalchemy import func, select

import kiln.data
from kiln.context import Context
from kiln.data import Profile
from kiln.data._profiling import compute_profile
from kiln.data._sources import from_pandas
from kiln.db.tables import DatasetProfileRow
from tests.data.conftest import make_frame


@pytest.fixture
def frame() -> pd.DataFrame:
    frame = make_frame(5_000, seed=7, amount_nulls=0.1)
    frame.loc[[1, 2, 3], "channel"] = None
    return frame


@pytest.fixture
def profile(frame: pd.DataFrame) -> Profile:
    return compute_profile(from_pandas(frame), bins=15, top_k=2)


def test_numeric_columns_match_numpy_and_pandas(frame: pd.DataFrame, profile: Profile) -> None:
    amount = profile["amount"]
    values = frame["amount"].dropna().to_numpy()

    assert (amount.kind, amount.type) == ("numeric", "double")
    assert amount.count == len(values) == frame["amount"].count()
    assert amount.nulls == frame["amount"].isna().sum()
    assert amount.null_rate == pytest.approx(frame["amount"].isna().mean())
    assert amount.min == values.min()
    assert amount.max == values.max()
    assert amount.mean == pytest.approx(frame["amount"].mean(), rel=1e-12)
    assert amount.std == pytest.approx(frame["amount"].std(), rel=1e-12)
    assert amount.distinct == frame["amount"].nunique()
    for q in (0.01, 0.25, 0.5, 0.9, 0.99):
        assert amount.quantiles[f"{q:g}"] == pytest.approx(np.quantile(values, q), rel=1e-12)
    counts, edges = np.histogram(values, bins=15)
    assert amount.histogram is not None
    assert list(amount.histogram.counts) == counts.tolist()
    assert np.allclose(amount.histogram.edges, edges)
    assert amount.psi_bins is not None
    inner = np.asarray(amount.psi_bins.edges)
    assert np.allclose(inner, np.quantile(values, np.arange(1, 10) / 10))
    expected = np.bincount(np.searchsorted(inner, values, side="right"), minlength=10)
    assert list(amount.psi_bins.counts) == expected.tolist()


def test_integer_columns_keep_exact_extremes(frame: pd.DataFrame, profile: Profile) -> None:
    items = profile["items"]

    assert (items.min, items.max) == (int(frame["items"].min()), int(frame["items"].max()))
    assert isinstance(items.min, int)
    assert items.distinct == frame["items"].nunique()
    assert profile["id"].distinct == profile["id"].count == len(frame)


def test_categorical_columns_count_their_top_values(frame: pd.DataFrame, profile: Profile) -> None:
    channel = profile["channel"]
    counts = frame["channel"].value_counts()

    assert (channel.kind, channel.type) == ("categorical", "string")
    assert channel.nulls == 3
    assert channel.distinct == frame["channel"].nunique() == 3
    assert channel.top == tuple(zip(counts.index[:2], counts.to_numpy()[:2].tolist(), strict=True))
    assert channel.other == counts.iloc[2:].sum()
    assert not channel.complete_categories


def test_boolean_and_temporal_columns(frame: pd.DataFrame, profile: Profile) -> None:
    fraud = profile["fraud"]
    at = profile["at"]

    assert fraud.kind == "boolean"
    assert dict(fraud.top) == {True: frame["fraud"].sum(), False: (~frame["fraud"]).sum()}
    assert fraud.mean == pytest.approx(frame["fraud"].mean())
    assert at.kind == "temporal"
    assert pd.Timestamp(at.min) == frame["at"].min()
    assert pd.Timestamp(at.max) == frame["at"].max()


def test_nan_and_infinity_are_counted_apart() -> None:
    table = pa.table({"x": pa.array([1.0, float("nan"), float("inf"), None, 3.0])})

    x = compute_profile(table, bins=4, top_k=3)["x"]

    assert (x.nulls, x.nan, x.infinite, x.count) == (1, 1, 1, 3)
    assert x.null_rate == pytest.approx(2 / 5)
    assert (x.min, x.max, x.mean) == (1.0, 3.0, 2.0)


def test_empty_and_constant_columns() -> None:
    table = pa.table({"e": pa.array([None, None], pa.float64()), "c": [5, 5]})

    profile = compute_profile(table, bins=3, top_k=3)

    assert (profile["e"].count, profile["e"].null_rate, profile["e"].mean) == (0, 1.0, None)
    constant = profile["c"]
    assert constant.std == 0.0
    assert constant.histogram is not None
    assert sum(constant.histogram.counts) == 2


def test_a_profile_survives_json(profile: Profile) -> None:
    assert Profile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile
    summary = profile.to_pandas()
    assert list(summary.index) == profile.names
    assert summary.loc["amount", "count"] == profile["amount"].count


def test_a_stored_versions_profile_is_computed_once(store: Context, frame: pd.DataFrame) -> None:
    kiln.data.register_dataset(frame, "transactions")

    first = kiln.data.profile("transactions@1")
    again = kiln.data.profile("transactions")
    other = kiln.data.profile("transactions", bins=5)

    assert (first.dataset, first.version, first.num_rows) == ("transactions", 1, len(frame))
    assert again == first
    assert other.bins == 5
    rows = store.db.read(lambda s: s.scalar(select(func.count()).select_from(DatasetProfileRow)))
    assert rows == 2
    assert kiln.data.profile(frame) == compute_profile(from_pandas(frame), bins=20, top_k=20)
