"""Pipelines with quality gates and lineage, at module level so they can be rebuilt for a resume."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

import kiln
import kiln.data
from kiln.pipelines import pipeline, step

#: Reference frame the gates compare against (registered by the tests as ``ref@1``).
REFERENCE = pd.DataFrame({"amount": np.linspace(1.0, 100.0, 200), "kind": ["a", "b"] * 100})


def drifted(rows: int = 200) -> pd.DataFrame:
    """Amounts far outside the reference's range, a category never seen, and fewer rows."""
    return pd.DataFrame({"amount": np.linspace(500.0, 900.0, rows), "kind": ["z"] * rows})


@step
def ingest(source: str, name: str = "events") -> str:
    """Register the frame in the file ``source`` as a dataset version; return its reference."""
    version = kiln.data.register_dataset(pd.read_parquet(source), name)
    return version.uri


@step
def features(ref: str) -> pd.DataFrame:
    frame = kiln.data.load(ref)
    frame["double"] = frame["amount"] * 2
    return frame


@step
def count(frame: pd.DataFrame) -> int:
    return len(frame)


@step
def side_branch(n: int) -> int:
    return n + 1


@pipeline
def gated(source: str, on_failure: str = "pause") -> Any:
    """ingest → check (against the latest ``ref``) → features → count, and a side branch."""
    ref = ingest(source)
    checked = kiln.data.check(ref, reference="ref@latest", on_failure=on_failure)
    side_branch(41)
    return count(features(checked))


@step
def frame_from(source: str) -> pd.DataFrame:
    return pd.read_parquet(source)


@pipeline
def gated_frame(source: str) -> Any:
    """A gate over an in-memory DataFrame output (not a stored version)."""
    frame = frame_from(source)
    return count(kiln.data.check(frame, reference="ref@1", name="quality"))


@step
def flaky(marker: str) -> int:
    """Fails while the file ``marker`` exists; the test removes it before resuming."""
    import os

    if os.path.exists(marker):
        raise RuntimeError("the upstream system is down")
    return 7


@step
def expensive(n: int) -> int:
    print("expensive ran")
    return n * 2


@pipeline
def recovering(marker: str) -> Any:
    base = expensive(21)
    return side_branch(flaky(marker)), base


@step
def train(ref: str) -> str:
    """Train on a dataset version inside a tracking run; return the run id."""
    from sklearn.linear_model import LinearRegression

    frame = kiln.data.load(ref)
    with kiln.start_run(experiment="lineage") as run:
        model = LinearRegression().fit(frame[["amount"]], frame["amount"] * 3)
        logged = kiln.log_model(model, "model")
    kiln.register_model(logged, "scorer")
    return run.id


@pipeline
def training(ref: str = "events@latest") -> Any:
    return train(ref)
