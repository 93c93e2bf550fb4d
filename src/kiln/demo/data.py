"""Deterministic demo data: card transactions with customers, merchants and fraud labels.

``kiln demo`` and the tests of later capabilities need one realistic tabular
problem that every part of Kiln can use: entity keys and event timestamps for
point-in-time feature joins and online reads, a label a classifier can learn,
a sensitive attribute for fairness metrics, and ground truth for drift and
data-quality monitoring. :func:`generate` draws it from a seeded, fully
vectorized simulation::

    data = generate(seed=7)                      # reference world
    later = generate(seed=7, drift=True)         # the next window, drifted
    dirty = generate(seed=7, faults=0.02)        # 2 % of rows broken per fault kind
    data.transactions, data.customers, data.merchants, dirty.faults

- ``customers`` and ``merchants`` are the entities; ``transactions`` are the
  events (sorted by ``event_timestamp``, tz-aware UTC) with the ``is_fraud`` label.
- The label is drawn from a documented logistic model,
  :func:`fraud_probability`, of transaction columns only. The sensitive
  attributes (:data:`SENSITIVE_COLUMNS`) never enter it, but ``age_band``
  drives the online share (and ``credit_limit``), so models show a measurable
  disparity by age band through that proxy; ``gender`` has no proxy.
- ``drift`` moves the window, amounts, channel mix, merchant categories,
  customer mix and the label model (:class:`DriftSpec`); ``faults`` corrupts
  rows at a known rate and reports exactly what it did (:data:`FAULT_KINDS`).

Same arguments give identical frames. Each table has its own random stream,
so a seed's customers and merchants do not change with the number of
transactions or with drift (which only appends merchants), and faults leave
every row they do not report untouched. Schemas, the label model, drift and
faults are described in ``docs/demo-data.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from os import PathLike
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from kiln.demo import _data_faults, _data_world
from kiln.errors import InvalidInput

__all__ = [
    "FAULT_KINDS",
    "SENSITIVE_COLUMNS",
    "DemoConfig",
    "DemoData",
    "DriftSpec",
    "FaultSpec",
    "fraud_probability",
    "generate",
]

#: Columns of ``customers`` meant for fairness checks only; no label input uses them.
SENSITIVE_COLUMNS = ("age_band", "gender")
#: The kinds of data-quality fault ``faults=`` injects, as keys of ``DemoData.faults``.
FAULT_KINDS = _data_faults.FAULT_KINDS

# The latent fraud model: logit = sum of coefficient * input (docs/demo-data.md).
_COEFFICIENTS: Mapping[str, float] = {
    "intercept": -6.7,
    "amount_ratio": 0.9,
    "merchant_risk": 3.0,
    "night": 1.0,
    "foreign": 1.2,
    "card_not_present": 1.5,
    "velocity": 0.9,
}
# Concept drift: added to the coefficients, times DriftSpec.strength.
_DRIFT_SHIFT: Mapping[str, float] = {
    "card_not_present": 0.5,
    "foreign": -0.8,
}
_MAX_DAYS = 3_650


@dataclass(frozen=True)
class DriftSpec:
    """How far the drifted world is from the reference one.

    ``strength`` scales every shift (1.0 is the documented default, 0.0 keeps
    the world but still moves the window, a no-drift control). With
    ``shift_window`` the transactions fall in the ``days`` right after the
    reference window instead of in it.
    """

    strength: float = 1.0
    shift_window: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.strength) and 0.0 <= self.strength <= 5.0):
            raise InvalidInput(
                f"drift strength must be between 0 and 5, got {self.strength!r}",
                field="drift.strength",
            )


@dataclass(frozen=True)
class FaultSpec:
    """Inject each fault kind into ``rate`` of the rows of its table (0 to 0.2)."""

    rate: float = 0.01

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and 0.0 <= self.rate <= 0.2):
            raise InvalidInput(
                f"fault rate must be between 0 and 0.2 (five kinds share the "
                f"transaction rows), got {self.rate!r}",
                field="faults.rate",
            )


@dataclass(frozen=True)
class DemoConfig:
    """Everything :func:`generate` was asked for; recorded on :class:`DemoData`.

    ``start`` is the first day of the reference window: a naive value is read
    as UTC and the time of day is dropped (windows start at midnight UTC).
    """

    seed: int = 0
    n_customers: int = 2_000
    n_merchants: int = 300
    n_transactions: int = 50_000
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    days: int = 60
    drift: DriftSpec | None = None
    faults: FaultSpec | None = None

    def __post_init__(self) -> None:
        _check_int("seed", self.seed, 0)
        _check_int("n_customers", self.n_customers, 1)
        _check_int("n_merchants", self.n_merchants, len(_data_world.COUNTRIES))
        _check_int("n_transactions", self.n_transactions, 1)
        _check_int("days", self.days, 1, _MAX_DAYS)
        object.__setattr__(self, "start", _utc_midnight(self.start))

    @property
    def window_start(self) -> pd.Timestamp:
        """First instant of the transactions' window (moved on under drift)."""
        start = pd.Timestamp(self.start)
        if self.drift is not None and self.drift.shift_window:
            start += pd.Timedelta(days=self.days)
        return start

    @property
    def window_end(self) -> pd.Timestamp:
        """First instant after the window; clean timestamps are all before it."""
        return self.window_start + pd.Timedelta(days=self.days)


@dataclass(frozen=True, eq=False)
class DemoData:
    """The generated tables, the config that made them and the faults injected.

    ``faults`` maps every kind of :data:`FAULT_KINDS` to the number of rows
    corrupted (all zero without ``faults=``); ``fault_keys`` gives their ids
    (``customer_id`` for ``age_out_of_range``, ``transaction_id`` otherwise;
    for ``duplicate_transaction``, the ids that now appear twice).
    """

    config: DemoConfig
    customers: pd.DataFrame
    merchants: pd.DataFrame
    transactions: pd.DataFrame
    faults: Mapping[str, int]
    fault_keys: Mapping[str, npt.NDArray[np.int64]]

    def save_parquet(self, folder: str | PathLike[str]) -> dict[str, Path]:
        """Write each table to ``folder/<table>.parquet``; return table name -> path."""
        root = Path(folder)
        root.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        tables = {
            "customers": self.customers,
            "merchants": self.merchants,
            "transactions": self.transactions,
        }
        for name, frame in tables.items():
            path = root / f"{name}.parquet"
            frame.to_parquet(path, index=False)
            paths[name] = path
        return paths


def generate(
    *,
    seed: int = 0,
    n_customers: int = 2_000,
    n_merchants: int = 300,
    n_transactions: int = 50_000,
    start: datetime | date | str = "2024-01-01",
    days: int = 60,
    drift: bool | float | DriftSpec = False,
    faults: bool | float | FaultSpec = False,
) -> DemoData:
    """Generate the demo world; the same arguments always give the same frames.

    ``drift``: ``True`` for :class:`DriftSpec()`, a number for its strength,
    or a spec. ``faults``: ``True`` for a 1 % rate, a number for the rate, or
    a spec. Raises :class:`~kiln.errors.InvalidInput` for out-of-range values.
    """
    config = DemoConfig(
        seed=seed,
        n_customers=n_customers,
        n_merchants=n_merchants,
        n_transactions=n_transactions,
        start=_utc_midnight(start),
        days=days,
        drift=_as_drift(drift),
        faults=_as_faults(faults),
    )
    return _generate(config)


def fraud_probability(
    transactions: pd.DataFrame,
    customers: pd.DataFrame,
    merchants: pd.DataFrame,
    *,
    drift: DriftSpec | None = None,
) -> npt.NDArray[np.float64]:
    """The latent probability that each transaction is fraud; labels are drawn from it.

    ``logit = -6.7 + 0.9 * clip(log(amount / typical_amount), -3, 4)
    + 3.0 * merchant risk_score + 1.0 * night (hour < 6) + 1.2 * is_foreign
    + 1.5 * (not card_present) + 0.9 * min(velocity, 4)``, where velocity is
    the number of the same customer's transactions in ``[t - 1 h, t]`` that
    come earlier in the frame. Only these columns are read, never a sensitive
    one. ``drift`` applies the concept drift (``+0.5 * strength`` to not
    card_present, ``-0.8 * strength`` to is_foreign).
    """
    coef = dict(_COEFFICIENTS)
    if drift is not None:
        for name, shift in _DRIFT_SHIFT.items():
            coef[name] += drift.strength * shift
    _require(transactions, "transactions", ("customer_id", "merchant_id", "event_timestamp"))
    _require(transactions, "transactions", ("amount", "hour", "is_foreign", "card_present"))
    _require(customers, "customers", ("customer_id", "typical_amount"))
    _require(merchants, "merchants", ("merchant_id", "risk_score"))
    typical = _lookup(customers, "customer_id", "typical_amount", transactions)
    risk = _lookup(merchants, "merchant_id", "risk_score", transactions)
    amount = transactions["amount"].to_numpy(dtype=np.float64)
    seconds = pd.DatetimeIndex(transactions["event_timestamp"]).as_unit("us").asi8 // 1_000_000
    velocity = _velocity(transactions["customer_id"].to_numpy(dtype=np.int64), seconds)
    with np.errstate(divide="ignore", invalid="ignore"):
        amount_ratio = np.clip(np.log(amount / typical), -3.0, 4.0)
    logit = (
        coef["intercept"]
        + coef["amount_ratio"] * amount_ratio
        + coef["merchant_risk"] * risk
        + coef["night"] * (transactions["hour"].to_numpy(dtype=np.int64) < 6)
        + coef["foreign"] * transactions["is_foreign"].to_numpy(dtype=np.float64)
        + coef["card_not_present"] * (1.0 - transactions["card_present"].to_numpy(np.float64))
        + coef["velocity"] * np.minimum(velocity, 4)
    )
    probability: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-logit))
    return probability


def _generate(config: DemoConfig) -> DemoData:
    streams = np.random.SeedSequence(config.seed).spawn(6)
    rng_customers, rng_merchants, rng_crypto, rng_tx, rng_label, rng_faults = (
        np.random.default_rng(stream) for stream in streams
    )
    start_s = int(config.start.timestamp())
    customers = _data_world.make_customers(rng_customers, config.n_customers, start_s, config.days)
    merchants = _data_world.make_merchants(rng_merchants, config.n_merchants)
    n_crypto = 0
    strength = 0.0
    if config.drift is not None:
        crypto = _data_world.make_crypto_merchants(rng_crypto, config.n_merchants)
        merchants = merchants.append(crypto)
        n_crypto = len(crypto.category)
        strength = config.drift.strength
    events = _data_world.make_transactions(
        rng_tx,
        config.n_transactions,
        customers,
        merchants,
        n_crypto,
        int(config.window_start.timestamp()),
        config.days,
        strength,
    )
    customer_frame = customers.frame()
    merchant_frame = merchants.frame()
    transactions = events.frame()
    probability = fraud_probability(
        transactions, customer_frame, merchant_frame, drift=config.drift
    )
    transactions["is_fraud"] = rng_label.random(len(transactions)) < probability
    counts, keys = _data_faults.no_faults()
    if config.faults is not None:
        faulted = _data_faults.inject(rng_faults, config.faults.rate, customer_frame, transactions)
        customer_frame, transactions = faulted.customers, faulted.transactions
        counts, keys = faulted.counts, faulted.keys
    return DemoData(config, customer_frame, merchant_frame, transactions, counts, keys)


def _velocity(
    customer: npt.NDArray[np.int64], seconds: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Per row, the same customer's rows in the hour before (earlier rows at ties)."""
    counts = np.zeros(len(customer), dtype=np.int64)
    if len(customer) == 0:
        return counts
    order = np.lexsort((seconds, customer))
    sorted_customer = customer[order] - customer.min()
    sorted_seconds = seconds[order] - seconds.min()
    span = int(sorted_seconds.max()) + _data_world.HOUR + 1
    # One key per row, increasing within a customer and between customers,
    # so each row's window start is one binary search away.
    key = sorted_customer * span + sorted_seconds
    first = np.searchsorted(key, key - _data_world.HOUR, side="left")
    counts[order] = np.arange(len(key)) - first
    return counts


def _lookup(
    table: pd.DataFrame, key: str, column: str, transactions: pd.DataFrame
) -> npt.NDArray[np.float64]:
    index = pd.Index(table[key])
    position = index.get_indexer(transactions[key])
    missing = position < 0
    if missing.any():
        unknown = transactions[key].to_numpy()[missing]
        raise InvalidInput(
            f"transactions reference {len(np.unique(unknown))} {key} value(s) absent from "
            f"the table given (e.g. {unknown[0]!r}); pass the table they were generated with",
            field=key,
        )
    values: npt.NDArray[np.float64] = table[column].to_numpy(dtype=np.float64)[position]
    return values


def _require(frame: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    absent = [column for column in columns if column not in frame.columns]
    if absent:
        raise InvalidInput(f"{name} lacks the column(s) {absent}; pass the generated table")


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer, got {value!r}", field=name)
    if value < low or (high is not None and value > high):
        bound = f"at least {low}" if high is None else f"between {low} and {high}"
        raise InvalidInput(f"{name} must be {bound}, got {value}", field=name)


def _utc_midnight(value: datetime | date | str) -> datetime:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"start must be a date, datetime or ISO string, got {value!r}", field="start"
        ) from exc
    if pd.isna(stamp):
        raise InvalidInput(f"start must be a real date, got {value!r}", field="start")
    stamp = stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)
    midnight: datetime = stamp.floor("D").to_pydatetime()
    return midnight


def _as_drift(drift: bool | float | DriftSpec) -> DriftSpec | None:
    if isinstance(drift, DriftSpec):
        return drift
    if isinstance(drift, bool):
        return DriftSpec() if drift else None
    return DriftSpec(strength=float(drift))


def _as_faults(faults: bool | float | FaultSpec) -> FaultSpec | None:
    if isinstance(faults, FaultSpec):
        return faults
    if isinstance(faults, bool):
        return FaultSpec() if faults else None
    return FaultSpec(rate=float(faults))
