"""``kiln.data`` fixtures: the SDK on a real store (SQLite and PostgreSQL), and seeded frames."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kiln
from kiln.context import Context

MakeFrame = Callable[..., pd.DataFrame]


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Context]:
    """``kiln.data`` on a fresh store: SQLite or PostgreSQL, artifacts in a temporary folder."""
    context = kiln.configure(home=tmp_path / "store", database_url=database_url)
    try:
        yield context
    finally:
        kiln.configure(home=tmp_path / "after")
        kiln.get_context().close()


def make_frame(
    rows: int = 2_000,
    *,
    seed: int = 0,
    amount_shift: float = 0.0,
    amount_nulls: float = 0.0,
    weights: tuple[float, float, float] = (0.5, 0.3, 0.2),
) -> pd.DataFrame:
    """A small transactions table: id, amount (lognormal), count, channel, fraud flag, time."""
    rng = np.random.default_rng(seed)
    amount = rng.lognormal(3.0, 0.5, rows) + amount_shift
    if amount_nulls:
        amount[rng.random(rows) < amount_nulls] = np.nan
    return pd.DataFrame(
        {
            "id": np.arange(rows, dtype=np.int64),
            "amount": amount,
            "items": rng.integers(1, 10, rows),
            "channel": rng.choice(["web", "store", "phone"], rows, p=list(weights)),
            "fraud": rng.random(rows) < 0.05,
            "at": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.sort(rng.integers(0, 86_400 * 30, rows)), unit="s"),
        }
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()
