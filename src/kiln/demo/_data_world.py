"""The simulated card world behind :mod:`kiln.demo.data`: entities and transactions.

Everything here works on whole NumPy arrays (no Python loop over rows) and
draws from the generator it is handed, so the caller decides which random
stream feeds which table. The constants below are the world's parameters;
``docs/demo-data.md`` describes them in prose, so change both together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

DAY = 86_400
HOUR = 3_600

# Countries: merchants live in all of them, cardholders in the first four.
COUNTRIES = ("US", "CA", "GB", "DE", "FR", "MX", "NG", "CN")
CURRENCIES = ("USD", "CAD", "GBP", "EUR", "MXN", "NGN", "CNY")
_COUNTRY_CURRENCY = np.array([0, 1, 2, 3, 3, 4, 5, 6], dtype=np.int64)
_MERCHANT_COUNTRY_SHARE = np.array([0.70, 0.08, 0.07, 0.05, 0.04, 0.03, 0.015, 0.015])
_CUSTOMER_COUNTRY_SHARE = np.array([0.80, 0.08, 0.06, 0.06, 0.0, 0.0, 0.0, 0.0])

REGIONS = ("north", "south", "east", "west", "central")
GENDERS = ("female", "male", "nonbinary")
_GENDER_SHARE = np.array([0.495, 0.485, 0.02])
AGE_BANDS = ("18-25", "26-35", "36-50", "51-65", "66+")
_AGE_BAND_EDGES = np.array([26, 36, 51, 66])

# Merchant categories: base risk, share of purchases made online, ticket size
# relative to the customer's usual one, share of all purchases.
_CATEGORY_TABLE: tuple[tuple[str, float, float, float, float], ...] = (
    ("grocery", 0.05, 0.08, 0.9, 0.22),
    ("restaurants", 0.08, 0.10, 0.7, 0.18),
    ("fuel", 0.10, 0.02, 1.0, 0.10),
    ("fashion", 0.15, 0.35, 1.3, 0.10),
    ("electronics", 0.35, 0.45, 2.5, 0.07),
    ("online_retail", 0.30, 0.95, 1.2, 0.12),
    ("travel", 0.30, 0.65, 4.0, 0.05),
    ("entertainment", 0.15, 0.50, 0.8, 0.08),
    ("health", 0.05, 0.10, 1.1, 0.05),
    ("gambling", 0.60, 0.85, 1.5, 0.03),
)
# The category that only exists in the drifted world; same columns, no share.
_DRIFT_CATEGORY = ("crypto_exchange", 0.75, 0.97, 3.0)
CATEGORIES = (*(row[0] for row in _CATEGORY_TABLE), _DRIFT_CATEGORY[0])
_CAT_RISK = np.array([row[1] for row in _CATEGORY_TABLE] + [_DRIFT_CATEGORY[1]])
_CAT_ONLINE = np.array([row[2] for row in _CATEGORY_TABLE] + [_DRIFT_CATEGORY[2]])
_CAT_TICKET = np.array([row[3] for row in _CATEGORY_TABLE] + [_DRIFT_CATEGORY[3]])
_CAT_SHARE = np.array([row[4] for row in _CATEGORY_TABLE])
CRYPTO = len(CATEGORIES) - 1

CHANNELS = ("in_store", "contactless", "online")
ONLINE = 2
# Log-odds of shopping online gained per year of age below 40 (the fairness proxy).
_ONLINE_PER_YEAR_YOUNGER = 0.06
_CONTACTLESS_SHARE = 0.55

# Relative transaction volume per UTC hour for ordinary purchases (bursts of
# card testing are spread evenly over the day instead).
_HOURLY = np.array(
    [
        *(0.6, 0.4, 0.3, 0.25, 0.3, 0.6, 1.5, 3.0, 4.5, 5.0, 5.5, 6.5),
        *(7.5, 6.5, 6.0, 6.0, 6.5, 7.0, 7.5, 7.0, 6.0, 4.5, 3.0, 1.5),
    ]
)

# Velocity bursts: a compromised card is used several times within minutes.
_BURST_EPISODES_PER_TRANSACTION = 0.006
_BURST_SIZE = (2, 6)
_BURST_MEAN_GAP_S = 360.0
_BURST_FOREIGN = 0.45
_BURST_ONLINE = 0.80
_FOREIGN = 0.05


@dataclass(frozen=True)
class Customers:
    """Customer arrays (row ``i`` is ``customer_id == i + 1``)."""

    signup_s: Ints
    age: Ints
    gender: Ints
    region: Ints
    home: Ints
    credit_limit: Floats
    typical_amount: Floats
    activity: Floats

    def frame(self) -> pd.DataFrame:
        n = len(self.age)
        return pd.DataFrame(
            {
                "customer_id": np.arange(1, n + 1, dtype=np.int64),
                "signup_timestamp": timestamps(self.signup_s),
                "age": self.age,
                "age_band": strings(AGE_BANDS, age_band(self.age)),
                "gender": strings(GENDERS, self.gender),
                "region": strings(REGIONS, self.region),
                "home_country": strings(COUNTRIES, self.home),
                "credit_limit": self.credit_limit,
                "typical_amount": self.typical_amount,
            }
        )


@dataclass(frozen=True)
class Merchants:
    """Merchant arrays (row ``i`` is ``merchant_id == i + 1``)."""

    category: Ints
    country: Ints
    risk: Floats
    popularity: Floats

    def frame(self) -> pd.DataFrame:
        n = len(self.category)
        return pd.DataFrame(
            {
                "merchant_id": np.arange(1, n + 1, dtype=np.int64),
                "category": strings(CATEGORIES, self.category),
                "country": strings(COUNTRIES, self.country),
                "risk_score": self.risk,
            }
        )

    def append(self, other: Merchants) -> Merchants:
        return Merchants(
            category=np.concatenate([self.category, other.category]),
            country=np.concatenate([self.country, other.country]),
            risk=np.concatenate([self.risk, other.risk]),
            popularity=np.concatenate([self.popularity, other.popularity]),
        )


def strings(categories: Sequence[str], codes: npt.NDArray[np.integer]) -> pd.Series:
    """A pandas ``str`` column from integer codes, built in Arrow (no Python objects)."""
    indices = pa.array(codes.astype(np.int32), type=pa.int32())
    dictionary = pa.array(list(categories), type=pa.string())
    decoded = pa.DictionaryArray.from_arrays(indices, dictionary).dictionary_decode()
    return pd.Series(decoded, dtype="str")


def timestamps(epoch_s: Ints) -> pd.Series:
    """A ``datetime64[us, UTC]`` column from whole epoch seconds."""
    values = (epoch_s * 1_000_000).astype("datetime64[us]")
    return pd.Series(pd.DatetimeIndex(values).tz_localize("UTC"))


def age_band(age: Ints) -> Ints:
    return np.digitize(age, _AGE_BAND_EDGES).astype(np.int64)


def make_customers(rng: np.random.Generator, n: int, start_s: int, days: int) -> Customers:
    home = rng.choice(len(COUNTRIES), size=n, p=_CUSTOMER_COUNTRY_SHARE).astype(np.int64)
    age = np.clip(np.rint(rng.normal(44.0, 15.0, n)), 18, 95).astype(np.int64)
    gender = rng.choice(len(GENDERS), size=n, p=_GENDER_SHARE).astype(np.int64)
    region = rng.integers(0, len(REGIONS), n, dtype=np.int64)
    income = rng.standard_normal(n)
    typical = np.exp(np.log(35.0) + 0.35 * income + 0.25 * rng.standard_normal(n))
    # Older customers get higher limits: credit_limit is a proxy of age.
    log_limit = (
        np.log(1_200.0)
        + 0.03 * (np.minimum(age, 65) - 18)
        + 0.45 * income
        + 0.2 * rng.standard_normal(n)
    )
    activity = rng.lognormal(0.0, 0.7, n)
    # Most customers joined up to three years before the window; some join in
    # its first half, so "transactions come after signup" is a real constraint.
    before = start_s - 1 - (rng.random(n) * 3 * 365 * DAY).astype(np.int64)
    joins_late = rng.random(n) < 0.12
    late_span = (days // 2) * DAY
    late = start_s + (rng.random(n) * late_span).astype(np.int64)
    signup = np.where(joins_late & (late_span > 0), late, before)
    return Customers(
        signup_s=signup.astype(np.int64),
        age=age,
        gender=gender,
        region=region,
        home=home,
        credit_limit=np.maximum(np.round(np.exp(log_limit) / 100.0) * 100.0, 500.0),
        typical_amount=np.round(typical, 2),
        activity=activity,
    )


def make_merchants(rng: np.random.Generator, n: int) -> Merchants:
    n_countries = len(COUNTRIES)
    # Every country gets at least one merchant, so any country can be picked.
    country = np.concatenate(
        [
            np.arange(n_countries, dtype=np.int64),
            rng.choice(n_countries, size=n - n_countries, p=_MERCHANT_COUNTRY_SHARE),
        ]
    )
    country = rng.permutation(country).astype(np.int64)
    category = rng.choice(len(_CAT_SHARE), size=n, p=_CAT_SHARE).astype(np.int64)
    # Some merchants are far busier than others, but each category keeps its
    # share of purchases exactly, so two seeds' worlds look alike.
    appeal = rng.lognormal(0.0, 0.8, n)
    per_category = np.bincount(category, weights=appeal, minlength=len(_CAT_SHARE))
    popularity = _CAT_SHARE[category] * appeal / per_category[category]
    risk = np.clip(_CAT_RISK[category] + rng.normal(0.0, 0.07, n), 0.01, 0.99)
    return Merchants(category, country, np.round(risk, 3), popularity)


def make_crypto_merchants(rng: np.random.Generator, n_merchants: int) -> Merchants:
    n = max(1, round(0.04 * n_merchants))
    country = rng.choice(len(COUNTRIES), size=n, p=_MERCHANT_COUNTRY_SHARE).astype(np.int64)
    risk = np.clip(_CAT_RISK[CRYPTO] + rng.normal(0.0, 0.07, n), 0.01, 0.99)
    popularity = rng.lognormal(0.0, 0.8, n)
    category = np.full(n, CRYPTO, dtype=np.int64)
    return Merchants(category, country, np.round(risk, 3), popularity)


class _CountryPicker:
    """Weighted choice of a merchant inside a given country, vectorized.

    Merchants are laid out by country; each gets the key ``country +
    cumulative share within its country``, so one ``searchsorted`` finds,
    for every row at once, the merchant whose slice holds ``country + u``.
    """

    def __init__(self, country: Ints, weight: Floats) -> None:
        self.order = np.argsort(country, kind="stable")
        sorted_country = country[self.order]
        sorted_weight = weight[self.order]
        totals = np.bincount(sorted_country, weights=sorted_weight, minlength=len(COUNTRIES))
        within = (
            np.cumsum(sorted_weight)
            - np.concatenate([[0.0], np.cumsum(totals)[:-1]])[sorted_country]
        )
        self.keys = sorted_country + within / totals[sorted_country]
        counts = np.bincount(sorted_country, minlength=len(COUNTRIES))
        self.first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.last = np.cumsum(counts) - 1

    def pick(self, country: Ints, u: Floats) -> Ints:
        position = np.searchsorted(self.keys, country + u, side="right")
        position = np.clip(position, self.first[country], self.last[country])
        return self.order[position].astype(np.int64)


def _other_country(rng: np.random.Generator, home: Ints) -> Ints:
    """A merchant country different from ``home``, weighted by merchant share."""
    country = rng.choice(len(COUNTRIES), size=len(home), p=_MERCHANT_COUNTRY_SHARE)
    for _ in range(8):
        same = country == home
        if not same.any():
            break
        country[same] = rng.choice(len(COUNTRIES), size=int(same.sum()), p=_MERCHANT_COUNTRY_SHARE)
    same = country == home
    country[same] = (home[same] + 1) % len(COUNTRIES)
    return country.astype(np.int64)


def _sigmoid(x: Floats) -> Floats:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Transactions:
    """Transaction arrays, sorted by time."""

    time_s: Ints
    customer: Ints
    merchant: Ints
    amount: Floats
    channel: Ints
    distance_km: Floats
    currency: Ints
    is_foreign: Bools

    def frame(self) -> pd.DataFrame:
        n = len(self.time_s)
        return pd.DataFrame(
            {
                "transaction_id": np.arange(1, n + 1, dtype=np.int64),
                "event_timestamp": timestamps(self.time_s),
                "customer_id": self.customer + 1,
                "merchant_id": self.merchant + 1,
                "amount": self.amount,
                "currency": strings(CURRENCIES, self.currency),
                "channel": strings(CHANNELS, self.channel),
                "card_present": self.channel != ONLINE,
                "hour": (self.time_s // HOUR) % 24,
                "distance_from_home_km": self.distance_km,
                "is_foreign": self.is_foreign,
            }
        )


def make_transactions(
    rng: np.random.Generator,
    n: int,
    customers: Customers,
    merchants: Merchants,
    n_crypto: int,
    window_start_s: int,
    days: int,
    strength: float,
) -> Transactions:
    """Draw ``n`` transactions in ``[window_start, + days)``; ``strength`` > 0 drifts them.

    The last ``n_crypto`` merchants are the drift-only crypto exchanges.
    """
    n_customers = len(customers.age)
    window_end_s = window_start_s + days * DAY
    # First whole day each customer may transact on (the day after signup).
    first_day = np.maximum(0, (customers.signup_s - window_start_s) // DAY + 1)

    sizes = rng.integers(
        _BURST_SIZE[0], _BURST_SIZE[1] + 1, int(n * _BURST_EPISODES_PER_TRANSACTION)
    )
    n_burst = int(sizes.sum())
    n_normal = n - n_burst

    # Ordinary purchases: busy customers buy more; under drift the young more so.
    weight = customers.activity * np.where(customers.age < 36, np.exp(0.7 * strength), 1.0)
    cust_n = rng.choice(n_customers, size=n_normal, p=weight / weight.sum()).astype(np.int64)
    lo = first_day[cust_n]
    day = lo + (rng.random(n_normal) * (days - lo)).astype(np.int64)
    hour = rng.choice(24, size=n_normal, p=_HOURLY / _HOURLY.sum())
    time_n = window_start_s + day * DAY + hour * HOUR + rng.integers(0, HOUR, n_normal)

    # Bursts: a stolen card, then 2-6 uses a few minutes apart, at any hour.
    # Cards used online more are stolen more often (the same age proxy).
    exposure = np.exp(_ONLINE_PER_YEAR_YOUNGER * (40 - customers.age))
    victims = rng.choice(n_customers, size=len(sizes), p=exposure / exposure.sum())
    victims = victims.astype(np.int64)
    ep_lo = window_start_s + first_day[victims] * DAY
    ep_start = ep_lo + (rng.random(len(sizes)) * (window_end_s - 2 * HOUR - ep_lo)).astype(np.int64)
    ep_first = (np.cumsum(sizes) - sizes).astype(np.int64)
    gaps = rng.exponential(_BURST_MEAN_GAP_S, n_burst)
    gaps[ep_first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[ep_first], sizes)
    cust_b = np.repeat(victims, sizes)
    time_b = np.repeat(ep_start, sizes) + np.minimum(elapsed, 2 * HOUR - 1).astype(np.int64)

    customer = np.concatenate([cust_n, cust_b])
    time_s = np.concatenate([time_n, time_b]).astype(np.int64)
    burst = np.concatenate([np.zeros(n_normal, dtype=bool), np.ones(n_burst, dtype=bool)])

    # Merchant: mostly in the home country; bursts prefer risky merchants abroad.
    home = customers.home[customer]
    foreign = rng.random(n) < np.where(burst, _BURST_FOREIGN, _FOREIGN)
    target = np.where(foreign, _other_country(rng, home), home)
    base = len(merchants.category) - n_crypto
    u = rng.random(n)
    ordinary = _CountryPicker(merchants.country[:base], merchants.popularity[:base])
    risky = _CountryPicker(
        merchants.country[:base], merchants.popularity[:base] * merchants.risk[:base] ** 2
    )
    merchant = np.where(burst, risky.pick(target, u), ordinary.pick(target, u))
    if n_crypto:
        crypto_share = np.where(burst, min(0.5, 0.15 * strength), min(0.5, 0.06 * strength))
        to_crypto = rng.random(n) < crypto_share
        crypto_p = merchants.popularity[base:] / merchants.popularity[base:].sum()
        crypto = base + rng.choice(n_crypto, size=int(to_crypto.sum()), p=crypto_p)
        merchant[to_crypto] = crypto
    category = merchants.category[merchant]
    merchant_country = merchants.country[merchant]
    is_foreign = merchant_country != home

    # Channel: the category sets the online share; younger customers and the
    # drifted world shop online more (the age <-> channel proxy).
    online_logit = (
        np.log(_CAT_ONLINE[category] / (1.0 - _CAT_ONLINE[category]))
        + _ONLINE_PER_YEAR_YOUNGER * (40 - customers.age[customer])
        + 1.0 * strength
    )
    p_online = np.where(burst, _BURST_ONLINE, _sigmoid(online_logit))
    online = rng.random(n) < p_online
    contactless = rng.random(n) < _CONTACTLESS_SHARE
    channel = np.where(online, ONLINE, np.where(contactless, 1, 0)).astype(np.int64)

    ticket = customers.typical_amount[customer] * _CAT_TICKET[category] * np.exp(0.25 * strength)
    amount = ticket * rng.lognormal(0.0, 0.55, n) * np.where(burst, rng.lognormal(0.9, 0.5, n), 1.0)
    amount = np.maximum(np.round(amount, 2), 0.5)

    distance: Floats = np.where(
        is_foreign,
        rng.lognormal(np.log(2_500.0), 0.6, n),
        np.where(online, rng.lognormal(np.log(40.0), 1.0, n), rng.lognormal(np.log(5.0), 0.9, n)),
    )

    order = np.argsort(time_s, kind="stable")
    return Transactions(
        time_s=time_s[order],
        customer=customer[order],
        merchant=merchant[order],
        amount=amount[order],
        channel=channel[order],
        distance_km=distance.round(1)[order],
        currency=_COUNTRY_CURRENCY[merchant_country][order],
        is_foreign=is_foreign[order],
    )
