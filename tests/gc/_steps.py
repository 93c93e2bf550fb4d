"""A small pipeline for the collector's tests, at module level so runners can import it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from kiln.pipelines import pipeline, step

#: More than the 64 KiB a step run keeps inline, so the whole log becomes a blob.
LONG_OUTPUT = "".join(f"line {n:06d} of a chatty step\n" for n in range(4000))


@step
def prepare(rows: int) -> pd.DataFrame:
    print(LONG_OUTPUT, end="")
    x = np.linspace(0.0, 1.0, rows)
    return pd.DataFrame({"x": x, "y": (x > 0.5).astype(int)})


@step
def fit(frame: pd.DataFrame) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression().fit(frame[["x"]], frame["y"])


@pipeline
def training(rows: int = 40) -> Any:
    return fit(prepare(rows))
