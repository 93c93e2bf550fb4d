"""Tests of kiln.demo.data: determinism, schema, integrity, label model, fairness, drift, faults."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kiln.demo.data import (
    FAULT_KINDS,
    SENSITIVE_COLUMNS,
    DemoConfig,
    DemoData,
    DriftSpec,
    FaultSpec,
    fraud_probability,
    generate,
)
from kiln.errors import InvalidInput

CUSTOMER_DTYPES = {
    "customer_id": "int64",
    "signup_timestamp": "datetime64[us, UTC]",
    "age": "int64",
    "age_band": "str",
    "gender": "str",
    "region": "str",
    "home_country": "str",
    "credit_limit": "float64",
    "typical_amount": "float64",
}
MERCHANT_DTYPES = {
    "merchant_id": "int64",
    "category": "str",
    "country": "str",
    "risk_score": "float64",
}
TRANSACTION_DTYPES = {
    "transaction_id": "int64",
    "event_timestamp": "datetime64[us, UTC]",
    "customer_id": "int64",
    "merchant_id": "int64",
    "amount": "float64",
    "currency": "str",
    "channel": "str",
    "card_present": "bool",
    "hour": "int64",
    "distance_from_home_km": "float64",
    "is_foreign": "bool",
    "is_fraud": "bool",
}
CURRENCY_OF = {
    "US": "USD",
    "CA": "CAD",
    "GB": "GBP",
    "DE": "EUR",
    "FR": "EUR",
    "MX": "MXN",
    "NG": "NGN",
    "CN": "CNY",
}


@pytest.fixture(scope="module")
def data() -> DemoData:
    return generate(seed=0)


@pytest.fixture(scope="module")
def other_seed() -> DemoData:
    return generate(seed=1)


@pytest.fixture(scope="module")
def drifted() -> DemoData:
    return generate(seed=0, drift=True)


def auc(score: npt.NDArray[np.float64], label: npt.NDArray[np.bool_]) -> float:
    """Rank-based ROC AUC (Mann-Whitney U), ties given their average rank."""
    ranks = pd.Series(score).rank().to_numpy()
    positives = int(label.sum())
    negatives = len(label) - positives
    return float((ranks[label].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Newton-Raphson logistic regression with a whisker of L2 for stability."""
    weights = np.zeros(x.shape[1])
    ridge = 1e-3 * np.eye(x.shape[1])
    for _ in range(30):
        p = 1.0 / (1.0 + np.exp(-x @ weights))
        gradient = x.T @ (p - y) + ridge @ weights
        hessian = (x * (p * (1.0 - p))[:, None]).T @ x + ridge
        weights -= np.linalg.solve(hessian, gradient)
    return weights


def observable_features(data: DemoData) -> npt.NDArray[np.float64]:
    """What a first model would use: transaction columns plus the merchant's risk."""
    tx = data.transactions
    risk = data.merchants.set_index("merchant_id")["risk_score"].reindex(tx["merchant_id"])
    return np.column_stack(
        [
            np.ones(len(tx)),
            np.log(tx["amount"].to_numpy()),
            risk.to_numpy(),
            (tx["hour"] < 6).to_numpy(dtype=np.float64),
            tx["is_foreign"].to_numpy(dtype=np.float64),
            1.0 - tx["card_present"].to_numpy(dtype=np.float64),
            np.log1p(tx["distance_from_home_km"].to_numpy()),
        ]
    )


def customer_column(data: DemoData, column: str) -> npt.NDArray[np.object_]:
    """``column`` of each transaction's customer, aligned with the transactions."""
    by_id = data.customers.set_index("customer_id")[column]
    return by_id.reindex(data.transactions["customer_id"]).to_numpy(dtype=object)


def online_share(data: DemoData) -> float:
    return float((data.transactions["channel"] == "online").mean())


# -- determinism --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [{}, {"drift": True}, {"faults": 0.02}, {"drift": 0.5, "faults": True, "seed": 3}],
)
def test_same_arguments_give_identical_frames(options: dict[str, object]) -> None:
    first = generate(n_transactions=5_000, **options)  # type: ignore[arg-type]
    second = generate(n_transactions=5_000, **options)  # type: ignore[arg-type]
    assert_frame_equal(first.customers, second.customers)
    assert_frame_equal(first.merchants, second.merchants)
    assert_frame_equal(first.transactions, second.transactions)
    assert first.faults == second.faults
    for kind in FAULT_KINDS:
        np.testing.assert_array_equal(first.fault_keys[kind], second.fault_keys[kind])


def test_different_seeds_differ(data: DemoData, other_seed: DemoData) -> None:
    assert not data.customers.equals(other_seed.customers)
    assert not data.merchants.equals(other_seed.merchants)
    assert not data.transactions.equals(other_seed.transactions)


def test_entities_do_not_depend_on_volume_drift_or_faults(data: DemoData) -> None:
    smaller = generate(seed=0, n_transactions=1_000)
    assert_frame_equal(smaller.customers, data.customers)
    assert_frame_equal(smaller.merchants, data.merchants)
    drifted = generate(seed=0, n_transactions=1_000, drift=True)
    assert_frame_equal(drifted.customers, data.customers)
    assert_frame_equal(drifted.merchants.iloc[: len(data.merchants)], data.merchants)
    faulted = generate(seed=0, n_transactions=1_000, faults=True)
    assert_frame_equal(faulted.merchants, data.merchants)
    assert_frame_equal(faulted.customers.drop(columns="age"), data.customers.drop(columns="age"))


def test_generate_defaults_match_the_config_defaults(data: DemoData) -> None:
    assert data.config == DemoConfig()
    assert data.config.window_start == pd.Timestamp("2024-01-01", tz="UTC")
    assert data.config.window_end == pd.Timestamp("2024-03-01", tz="UTC")


# -- schema and integrity -----------------------------------------------------------------


def test_tables_have_the_documented_columns_and_dtypes(data: DemoData) -> None:
    for frame, dtypes in [
        (data.customers, CUSTOMER_DTYPES),
        (data.merchants, MERCHANT_DTYPES),
        (data.transactions, TRANSACTION_DTYPES),
    ]:
        assert {column: str(dtype) for column, dtype in frame.dtypes.items()} == dtypes
        assert isinstance(frame.index, pd.RangeIndex)
        assert not frame.isna().any().any()
    assert data.customers.shape[0] == 2_000
    assert data.merchants.shape[0] == 300
    assert data.transactions.shape[0] == 50_000


def test_keys_are_unique_and_events_sorted(data: DemoData) -> None:
    assert data.customers["customer_id"].is_unique
    assert data.merchants["merchant_id"].is_unique
    assert data.transactions["transaction_id"].is_unique
    assert data.transactions["event_timestamp"].is_monotonic_increasing
    assert data.transactions["transaction_id"].is_monotonic_increasing


def test_every_transaction_references_existing_entities_within_the_window(
    data: DemoData,
) -> None:
    tx = data.transactions
    assert tx["customer_id"].isin(data.customers["customer_id"]).all()
    assert tx["merchant_id"].isin(data.merchants["merchant_id"]).all()
    assert tx["event_timestamp"].min() >= data.config.window_start
    assert tx["event_timestamp"].max() < data.config.window_end
    signup = data.customers.set_index("customer_id")["signup_timestamp"]
    assert (tx["event_timestamp"].to_numpy() > signup.reindex(tx["customer_id"]).to_numpy()).all()
    # Some customers join during the window, so the constraint above is not vacuous.
    assert (data.customers["signup_timestamp"] >= data.config.window_start).any()


def test_columns_agree_with_each_other(data: DemoData) -> None:
    tx = data.transactions
    customers = data.customers.set_index("customer_id")
    merchants = data.merchants.set_index("merchant_id")
    home = customers["home_country"].reindex(tx["customer_id"]).to_numpy()
    country = merchants["country"].reindex(tx["merchant_id"]).to_numpy()
    assert (tx["is_foreign"].to_numpy() == (home != country)).all()
    assert (tx["currency"].to_numpy() == pd.Series(country).map(CURRENCY_OF).to_numpy()).all()
    assert (tx["card_present"] == (tx["channel"] != "online")).all()
    assert (tx["hour"] == tx["event_timestamp"].dt.hour).all()
    assert (tx["amount"] > 0).all()
    assert data.customers["age"].between(18, 95).all()
    assert set(data.transactions["channel"]) == {"in_store", "contactless", "online"}
    assert "crypto_exchange" not in set(data.merchants["category"])
    assert data.merchants["risk_score"].between(0, 1).all()


# -- the fraud label ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fraud_base_rate_is_realistic(seed: int) -> None:
    labels = generate(seed=seed).transactions["is_fraud"]
    assert 0.01 <= labels.mean() <= 0.03


def test_label_is_learnable_by_a_simple_model(data: DemoData) -> None:
    features = observable_features(data)
    label = data.transactions["is_fraud"].to_numpy()
    cut = int(0.7 * len(label))  # train on the past, score the future
    weights = fit_logistic(features[:cut], label[:cut].astype(np.float64))
    score = auc(features[cut:] @ weights, label[cut:])
    print(f"held-out AUC of a 7-feature logistic regression: {score:.3f}")
    assert score > 0.75
    assert auc(data.transactions["amount"].to_numpy(), label) > 0.7


def test_label_is_drawn_from_the_documented_model(data: DemoData) -> None:
    probability = fraud_probability(data.transactions, data.customers, data.merchants)
    label = data.transactions["is_fraud"].to_numpy()
    assert probability.shape == label.shape
    assert abs(probability.mean() - label.mean()) < 0.003
    assert auc(probability, label) > 0.85
    # Calibrated: in each decile of the probability the label rate matches it.
    decile = pd.qcut(probability, 10, labels=False)
    by_decile = pd.DataFrame({"p": probability, "y": label, "d": decile}).groupby("d").mean()
    assert np.allclose(by_decile["p"], by_decile["y"], atol=0.02)


def test_fraud_probability_follows_the_documented_formula() -> None:
    customers = pd.DataFrame({"customer_id": [1, 2], "typical_amount": [50.0, 20.0]})
    merchants = pd.DataFrame({"merchant_id": [7], "risk_score": [0.5]})
    stamps = pd.to_datetime(
        ["2024-01-01 10:00", "2024-01-01 10:10", "2024-01-01 03:00", "2024-01-01 12:00"],
        utc=True,
    )
    tx = pd.DataFrame(
        {
            "customer_id": [1, 1, 2, 1],
            "merchant_id": [7, 7, 7, 7],
            "event_timestamp": stamps,
            "amount": [50.0, 50.0, 20.0 * np.e, 50.0],
            "hour": stamps.hour,
            "is_foreign": [False, False, True, False],
            "card_present": [True, True, False, True],
        }
    )
    logit = -np.log(1.0 / fraud_probability(tx, customers, merchants) - 1.0)
    base = -6.7 + 3.0 * 0.5
    expected = [
        base,
        base + 0.9,  # one earlier transaction of the same card in the hour
        base + 0.9 + 1.0 + 1.2 + 1.5,  # amount e x usual, night, foreign, not present
        base,  # 10:10 is 110 minutes earlier: outside the hour
    ]
    np.testing.assert_allclose(logit, expected, atol=1e-9)
    drifted = np.log(1.0 / fraud_probability(tx, customers, merchants, drift=DriftSpec()) - 1.0)
    np.testing.assert_allclose(-drifted - logit, [0.0, 0.0, 0.5 - 0.8, 0.0], atol=1e-9)


def test_fraud_probability_rejects_tables_that_do_not_match(data: DemoData) -> None:
    with pytest.raises(InvalidInput, match="customer_id"):
        fraud_probability(data.transactions, data.customers.iloc[:10], data.merchants)
    with pytest.raises(InvalidInput, match="risk_score"):
        fraud_probability(
            data.transactions, data.customers, data.merchants.drop(columns="risk_score")
        )


# -- fairness -----------------------------------------------------------------------------


def test_label_model_never_reads_the_sensitive_attributes(data: DemoData) -> None:
    expected = fraud_probability(data.transactions, data.customers, data.merchants)
    without = data.customers.drop(columns=list(SENSITIVE_COLUMNS))
    np.testing.assert_array_equal(
        fraud_probability(data.transactions, without, data.merchants), expected
    )
    shuffled = data.customers.copy()
    rng = np.random.default_rng(0)
    for column in SENSITIVE_COLUMNS:
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
    np.testing.assert_array_equal(
        fraud_probability(data.transactions, shuffled, data.merchants), expected
    )


def test_age_band_shows_a_disparity_through_its_proxies(data: DemoData) -> None:
    tx = data.transactions
    band = customer_column(data, "age_band")
    young, old = band == "18-25", band == "66+"
    online = (tx["channel"] == "online").to_numpy()
    # The proxy: the young shop online far more, and have lower credit limits.
    assert online[young].mean() - online[old].mean() > 0.2
    limits = data.customers.groupby("age_band")["credit_limit"].median()
    assert limits["66+"] > 1.5 * limits["18-25"]
    # Through it, both the label and a model that never saw age differ by band.
    label = tx["is_fraud"].to_numpy()
    assert label[young].mean() > 2 * label[old].mean()
    features = observable_features(data)
    score = features @ fit_logistic(features, label.astype(np.float64))
    flagged = score >= np.quantile(score, 0.98)
    print(
        f"flag rate 18-25: {flagged[young].mean():.4f}, 66+: {flagged[old].mean():.4f}",
    )
    assert flagged[young].mean() > 2 * flagged[old].mean()


def test_gender_has_no_proxy(data: DemoData) -> None:
    gender = customer_column(data, "gender")
    online = (data.transactions["channel"] == "online").to_numpy()
    female, male = gender == "female", gender == "male"
    assert abs(online[female].mean() - online[male].mean()) < 0.05


# -- drift --------------------------------------------------------------------------------


def test_drift_moves_the_window(data: DemoData, drifted: DemoData) -> None:
    assert drifted.config.window_start == data.config.window_end
    stamps = drifted.transactions["event_timestamp"]
    assert stamps.min() >= data.config.window_end
    assert stamps.max() < data.config.window_end + pd.Timedelta(days=60)
    in_place = generate(seed=0, n_transactions=2_000, drift=DriftSpec(shift_window=False))
    assert in_place.transactions["event_timestamp"].max() < data.config.window_end


def test_drift_changes_the_documented_columns(data: DemoData, drifted: DemoData) -> None:
    ref, cur = data.transactions, drifted.transactions
    assert cur["amount"].mean() > 1.25 * ref["amount"].mean()
    assert cur["amount"].median() > 1.2 * ref["amount"].median()
    assert online_share(drifted) - online_share(data) > 0.12
    assert cur["is_fraud"].mean() > 1.8 * ref["is_fraud"].mean()
    young = np.isin(customer_column(data, "age_band"), ["18-25", "26-35"]).mean()
    young_drifted = np.isin(customer_column(drifted, "age_band"), ["18-25", "26-35"]).mean()
    assert young_drifted - young > 0.08
    categories = drifted.merchants.set_index("merchant_id")["category"]
    share_crypto = (categories.reindex(cur["merchant_id"]) == "crypto_exchange").mean()
    assert 0.03 < share_crypto < 0.12
    new = drifted.merchants.iloc[len(data.merchants) :]
    assert (new["category"] == "crypto_exchange").all()
    assert len(new) == 12


def test_no_drift_worlds_from_two_seeds_are_alike(data: DemoData, other_seed: DemoData) -> None:
    ref, cur = data.transactions, other_seed.transactions
    assert 0.9 < cur["amount"].mean() / ref["amount"].mean() < 1.1
    assert abs(online_share(other_seed) - online_share(data)) < 0.03
    assert 0.7 < cur["is_fraud"].mean() / ref["is_fraud"].mean() < 1.4
    assert abs(cur["is_foreign"].mean() - ref["is_foreign"].mean()) < 0.02
    assert abs((cur["hour"] < 6).mean() - (ref["hour"] < 6).mean()) < 0.02


def test_drift_strength_scales_the_shift(data: DemoData) -> None:
    half = generate(seed=0, drift=0.5)
    full = generate(seed=0, drift=1.0)
    control = generate(seed=0, drift=0.0)
    shares = [online_share(x) for x in (data, control, half, full)]
    assert abs(shares[1] - shares[0]) < 0.03
    assert shares[1] < shares[2] < shares[3]
    crypto = control.merchants.loc[control.merchants["category"] == "crypto_exchange"]
    assert not control.transactions["merchant_id"].isin(crypto["merchant_id"]).any()


# -- faults -------------------------------------------------------------------------------


def test_without_faults_nothing_is_reported(data: DemoData) -> None:
    assert data.faults == dict.fromkeys(FAULT_KINDS, 0)
    assert all(len(data.fault_keys[kind]) == 0 for kind in FAULT_KINDS)


@pytest.mark.parametrize("rate", [0.01, 0.037])
def test_faults_inject_exactly_the_reported_counts(rate: float) -> None:
    clean = generate(seed=4, n_transactions=20_000)
    dirty = generate(seed=4, n_transactions=20_000, faults=rate)
    tx = dirty.transactions
    expected = round(rate * 20_000)
    assert dirty.faults == {
        "age_out_of_range": round(rate * 2_000),
        "null_amount": expected,
        "negative_amount": expected,
        "unseen_channel": expected,
        "future_timestamp": expected,
        "duplicate_transaction": expected,
    }
    found = {
        "age_out_of_range": dirty.customers.loc[
            ~dirty.customers["age"].between(18, 95), "customer_id"
        ],
        "null_amount": tx.loc[tx["amount"].isna(), "transaction_id"],
        "negative_amount": tx.loc[tx["amount"] < 0, "transaction_id"],
        "unseen_channel": tx.loc[
            ~tx["channel"].isin(clean.transactions["channel"].unique()), "transaction_id"
        ],
        "future_timestamp": tx.loc[
            tx["event_timestamp"] >= dirty.config.window_end, "transaction_id"
        ].drop_duplicates(),
        "duplicate_transaction": tx.loc[tx.duplicated(), "transaction_id"],
    }
    for kind, ids in found.items():
        assert len(ids) == dirty.faults[kind], kind
        np.testing.assert_array_equal(np.sort(ids.to_numpy()), dirty.fault_keys[kind])
    assert len(tx) == 20_000 + dirty.faults["duplicate_transaction"]
    assert tx["event_timestamp"].is_monotonic_increasing
    assert {str(dtype) for dtype in tx.dtypes} == set(TRANSACTION_DTYPES.values())


def test_faults_leave_every_other_row_untouched() -> None:
    clean = generate(seed=5, n_transactions=10_000)
    dirty = generate(seed=5, n_transactions=10_000, faults=0.05)
    touched = np.concatenate([dirty.fault_keys[kind] for kind in FAULT_KINDS[1:]])
    keep = ~dirty.transactions["transaction_id"].isin(touched)
    dirty_rows = dirty.transactions.loc[keep].reset_index(drop=True)
    clean_rows = clean.transactions.loc[
        ~clean.transactions["transaction_id"].isin(touched)
    ].reset_index(drop=True)
    assert_frame_equal(dirty_rows, clean_rows)
    moved = dirty.customers["customer_id"].isin(dirty.fault_keys["age_out_of_range"])
    assert_frame_equal(dirty.customers.loc[~moved], clean.customers.loc[~moved])


# -- arguments and files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"n_customers": 0}, "n_customers"),
        ({"n_merchants": 3}, "n_merchants"),
        ({"n_transactions": 0}, "n_transactions"),
        ({"days": 0}, "days"),
        ({"days": 10_000}, "days"),
        ({"start": "not a date"}, "start"),
        ({"drift": -1.0}, "drift.strength"),
        ({"drift": float("nan")}, "drift.strength"),
        ({"faults": 0.5}, "faults.rate"),
    ],
)
def test_bad_arguments_raise_invalid_input(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        generate(**options)  # type: ignore[arg-type]
    assert raised.value.field == field


@pytest.mark.parametrize(
    "start",
    [
        "2024-02-03T15:30",
        datetime(2024, 2, 3, 23, 59),
        date(2024, 2, 3),
        datetime(2024, 2, 4, 1, 0, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_start_is_read_as_a_utc_day(start: datetime | date | str) -> None:
    data = generate(start=start, days=3, n_transactions=500)
    assert data.config.start == datetime(2024, 2, 3, tzinfo=UTC)
    assert data.config.window_end == pd.Timestamp("2024-02-06", tz="UTC")
    assert data.transactions["event_timestamp"].min() >= pd.Timestamp("2024-02-03", tz="UTC")


def test_spec_arguments_are_recorded() -> None:
    data = generate(n_transactions=500, drift=DriftSpec(0.3), faults=FaultSpec(0.02))
    assert data.config.drift == DriftSpec(strength=0.3)
    assert data.config.faults == FaultSpec(rate=0.02)
    assert generate(n_transactions=500, faults=True).config.faults == FaultSpec(rate=0.01)


def test_tiny_worlds_are_valid() -> None:
    data = generate(n_customers=1, n_merchants=8, n_transactions=1, days=1, faults=True)
    assert len(data.transactions) == 1
    assert data.transactions["customer_id"].iloc[0] == 1


def test_save_parquet_round_trips(tmp_path: Path) -> None:
    data = generate(n_transactions=2_000, faults=True)
    paths = data.save_parquet(tmp_path / "demo")
    assert sorted(paths) == ["customers", "merchants", "transactions"]
    for name, path in paths.items():
        assert path == tmp_path / "demo" / f"{name}.parquet"
        assert_frame_equal(pd.read_parquet(path), getattr(data, name))


def test_one_million_transactions_generate_in_seconds() -> None:
    began = time.perf_counter()
    data = generate(n_transactions=1_000_000)
    elapsed = time.perf_counter() - began
    print(f"generated 1,000,000 transactions in {elapsed:.2f} s")
    assert len(data.transactions) == 1_000_000
    assert data.transactions["transaction_id"].is_unique
