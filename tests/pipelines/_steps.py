"""Steps and pipelines for the tests, at module level so worker processes can import them."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kiln.pipelines import pipeline, step

# -- a linear chain ---------------------------------------------------------------------


@step
def make_frame(rows: int = 5, scale: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows) * scale, "y": np.arange(rows) % 2})


@step
def add_one(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["x"] = out["x"] + 1
    return out


@step
def total(frame: pd.DataFrame) -> float:
    return float(frame["x"].sum())


@pipeline
def linear(rows: int = 5, scale: float = 1.0) -> Any:
    frame = make_frame(rows=rows, scale=scale)
    for _ in range(3):
        frame = add_one(frame)
    return total(frame)


# -- fan-out and fan-in -----------------------------------------------------------------


@step
def square(n: int) -> int:
    return n * n


@step
def add_all(values: list[int]) -> int:
    return sum(values)


@step
def describe(values: dict[str, int]) -> dict[str, int]:
    return {key: value + 1 for key, value in values.items()}


@pipeline
def fan(n: int = 4, use_map: bool = False) -> Any:
    parts = square.map(range(n)) if use_map else [square(i) for i in range(n)]
    described = describe({"first": parts[0], "last": parts[-1]})
    return add_all(parts), described


# -- materializers -----------------------------------------------------------------------


def value_of(kind: str) -> Any:
    """The value ``produce`` returns for ``kind``, built the same way in every process."""
    if kind == "pandas":
        return pd.DataFrame(
            {"a": [1, 2, 3], "b": ["x", "y", None], "c": pd.to_datetime(["2024-01-01"] * 3)},
            index=pd.Index([10, 20, 30], name="id"),
        )
    if kind == "polars":
        import polars

        return polars.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    if kind == "arrow":
        import pyarrow as pa

        return pa.table({"a": pa.array([1, 2, None], pa.int16()), "b": ["p", "q", "r"]})
    if kind == "numpy":
        return np.arange(12, dtype=np.float32).reshape(3, 4)
    if kind == "json":
        return {"name": "kiln", "values": [1, 2.5, None, True], "nested": {"k": "v"}}
    if kind == "model":
        from sklearn.linear_model import LogisticRegression

        features = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]] * 5)
        labels = np.array([0, 1, 0, 1] * 5)
        return LogisticRegression().fit(features, labels)
    raise ValueError(kind)


@step
def produce(kind: str) -> Any:
    return value_of(kind)


@step
def type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


@pipeline
def round_trip(kind: str) -> Any:
    return type_name(produce(kind))


class Opaque:
    """Nothing can store it."""


@step
def unstorable() -> Opaque:
    return Opaque()


@pipeline
def unstorable_pipeline() -> Any:
    return unstorable()


# -- caching by input content ------------------------------------------------------------


@step(cache=False)
def read_number(path: str) -> int:
    return int(Path(path).read_text())


@step
def double(value: int) -> int:
    return value * 2


@pipeline
def from_file(path: str) -> Any:
    return double(read_number(path))


# -- failures, retries, timeouts, crashes -----------------------------------------------


@step
def boom() -> int:
    raise ValueError("boom")


@pipeline
def failing() -> Any:
    broken = boom()
    after = double(broken)
    fine = add_all([square(2), square(3)])
    return after, fine


def _count(path: str) -> int:
    counter = Path(path)
    attempts = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempts))
    return attempts


@step(retries=3, backoff=0.01)
def flaky(path: str, succeed_on: int) -> int:
    attempt = _count(path)
    if attempt < succeed_on:
        raise RuntimeError(f"attempt {attempt} fails")
    return attempt


@pipeline
def retrying(path: str, succeed_on: int = 3) -> Any:
    return flaky(path, succeed_on)


@step(timeout=0.5)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline
def slow(seconds: float = 30.0) -> Any:
    return sleepy(seconds), square(5)


@step(timeout=0.3)
def stubborn(seconds: float) -> float:
    """Blocks the alarm signal, so only killing the process stops it."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(seconds)
    return seconds


@pipeline
def very_slow(seconds: float = 30.0) -> Any:
    return stubborn(seconds)


@step
def die() -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@pipeline
def crashing() -> Any:
    return die(), square(4)


# -- logs and usage ---------------------------------------------------------------------


@step
def chatty(lines: int = 1) -> int:
    for index in range(lines):
        print(f"out line {index}")
    print("to stderr", file=sys.stderr)
    return lines


@pipeline
def talking(lines: int = 1) -> Any:
    return chatty(lines)


@step
def busy(megabytes: int = 64) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        sum(i * i for i in range(1000))
    return len(block)


@pipeline
def working(megabytes: int = 64) -> Any:
    return busy(megabytes)


@step(resources={"cpu": 2})
def wide(n: int) -> int:
    return n


@pipeline
def wide_pipeline() -> Any:
    return add_all([wide(1), wide(2), square(3)])
