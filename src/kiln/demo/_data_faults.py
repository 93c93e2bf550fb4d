"""Data-quality faults for :mod:`kiln.demo.data`, injected at a known rate.

Each kind corrupts its own rows (the rows of different kinds never overlap),
so the reported count of every kind is exactly what a perfect check finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

#: Fault kinds, in the order they are injected; docs/demo-data.md explains each.
FAULT_KINDS = (
    "age_out_of_range",
    "null_amount",
    "negative_amount",
    "unseen_channel",
    "future_timestamp",
    "duplicate_transaction",
)
UNSEEN_CHANNEL = "moto"
BAD_AGES = np.array([-1, 0, 7, 130, 150, 999], dtype=np.int64)
FUTURE_SHIFT = pd.Timedelta(days=3_652)


@dataclass(frozen=True)
class Faulted:
    customers: pd.DataFrame
    transactions: pd.DataFrame
    counts: dict[str, int]
    keys: dict[str, npt.NDArray[np.int64]]


def no_faults() -> tuple[dict[str, int], dict[str, npt.NDArray[np.int64]]]:
    empty = np.zeros(0, dtype=np.int64)
    empty.flags.writeable = False  # shared by every kind
    return dict.fromkeys(FAULT_KINDS, 0), dict.fromkeys(FAULT_KINDS, empty)


def inject(
    rng: np.random.Generator,
    rate: float,
    customers: pd.DataFrame,
    transactions: pd.DataFrame,
) -> Faulted:
    """Corrupt copies of the two tables; ``rate`` is the share of rows per kind."""
    customers = customers.copy()
    transactions = transactions.copy()
    n_cust = len(customers)
    n_tx = len(transactions)

    k_cust = round(rate * n_cust)
    bad_customers = np.sort(rng.choice(n_cust, size=k_cust, replace=False))
    ages = customers["age"].to_numpy(copy=True)
    ages[bad_customers] = rng.choice(BAD_AGES, size=k_cust)
    customers["age"] = ages

    k = round(rate * n_tx)
    chosen = rng.permutation(n_tx)[: 5 * k]
    null_rows, negative_rows, unseen_rows, future_rows, duplicate_rows = (
        np.sort(chosen[i * k : (i + 1) * k]) for i in range(5)
    )

    amount = transactions["amount"].to_numpy(copy=True)
    amount[null_rows] = np.nan
    amount[negative_rows] = -amount[negative_rows]
    transactions["amount"] = amount

    channel = transactions["channel"].copy()
    channel.iloc[unseen_rows] = UNSEEN_CHANNEL
    transactions["channel"] = channel

    stamps = transactions["event_timestamp"].copy()
    stamps.iloc[future_rows] = stamps.iloc[future_rows] + FUTURE_SHIFT
    transactions["event_timestamp"] = stamps

    ids = transactions["transaction_id"].to_numpy()
    copies = transactions.iloc[duplicate_rows]
    transactions = pd.concat([transactions, copies], ignore_index=True)
    transactions = transactions.sort_values("event_timestamp", kind="stable", ignore_index=True)

    rows = {
        "null_amount": null_rows,
        "negative_amount": negative_rows,
        "unseen_channel": unseen_rows,
        "future_timestamp": future_rows,
        "duplicate_transaction": duplicate_rows,
    }
    customer_ids = customers["customer_id"].to_numpy()
    keys = {"age_out_of_range": customer_ids[bad_customers].astype(np.int64)}
    keys.update({kind: ids[where].astype(np.int64) for kind, where in rows.items()})
    counts = {kind: len(keys[kind]) for kind in FAULT_KINDS}
    return Faulted(customers, transactions, counts, {kind: keys[kind] for kind in FAULT_KINDS})
