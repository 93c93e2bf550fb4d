"""Small models to serve: a real classifier, and a python_function one that can be slowed
down or made to fail (importable, so it pickles by reference)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FEATURES = [f"f{i}" for i in range(20)]


def training_frame(rows: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    return frame, (frame["f0"] + frame["f1"] > 0).astype("int64")


def save_classifier(folder: Path) -> tuple[Path, Any, pd.DataFrame]:
    """A HistGradientBoostingClassifier on 20 float features, saved in Kiln's format."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from kiln.models import save_model

    frame, labels = training_frame()
    model = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(frame, labels)
    info = save_model(model, folder, input_example=frame.head(5))
    return info.path, model, frame


class Scorer:
    """``amount * 2 + count + offset`` per row, after ``delay`` s; raises on ``fail_on``."""

    def __init__(
        self, delay: float = 0.0, fail_on: float | None = None, offset: float = 0.0
    ) -> None:
        self.delay = delay
        self.fail_on = fail_on
        self.offset = offset
        self.calls: list[int] = []

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        if self.delay:
            time.sleep(self.delay)
        amount = frame["amount"].to_numpy()
        if self.fail_on is not None and (amount == self.fail_on).any():
            raise ValueError("the scorer cannot score that amount")
        return amount * 2 + frame["count"].to_numpy() + getattr(self, "offset", 0.0)


def save_scorer(folder: Path, **options: Any) -> Path:
    from kiln.models import save_model

    example = pd.DataFrame(
        {"amount": [1.0, 2.0], "count": np.array([1, 2], dtype="int64"), "city": ["a", "b"]}
    )
    info = save_model(Scorer(**options), folder, input_example=example, allow_pickle=True)
    return info.path


SCORER_EXAMPLE = {"amount": [1.0, 2.0], "count": [1, 2], "city": ["a", "b"]}


def scorer_example() -> pd.DataFrame:
    frame = pd.DataFrame(SCORER_EXAMPLE)
    frame["count"] = frame["count"].astype("int64")
    return frame
