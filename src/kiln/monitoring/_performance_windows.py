"""Performance per time window: the metrics of ``_performance`` over epoch-aligned windows."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

import numpy as np
import numpy.typing as npt

from kiln.errors import InvalidInput
from kiln.monitoring._performance import (
    AnyArray,
    ClassificationMetrics,
    IntArray,
    RegressionMetrics,
    _classification,
    _encode,
    _float_column,
    _regression,
    as_1d,
    plain,
    same_length,
)

__all__ = ["WindowMetrics", "metrics_over_time"]

_MICROS = {"us": 1, "ms": 1000, "s": 10**6, "min": 60 * 10**6, "h": 3600 * 10**6}
_MICROS |= {"d": 86400 * 10**6, "w": 7 * 86400 * 10**6}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowMetrics:
    """The metrics of the rows with ``start <= time < end`` (UTC)."""

    start: datetime
    end: datetime
    n: int
    metrics: ClassificationMetrics | RegressionMetrics

    def to_dict(self) -> dict[str, Any]:
        return dict(plain(self))


def _every_micros(every: str | timedelta) -> int:
    if isinstance(every, timedelta):
        micros = every // timedelta(microseconds=1)
    else:
        match = re.fullmatch(r"\s*(\d*)\s*(us|ms|s|min|h|d|w)\s*", str(every))
        if match is None:
            raise InvalidInput(
                f"every={every!r} is not a duration; use e.g. '15min', '1h', '1d' or a timedelta",
                field="every",
            )
        micros = int(match.group(1) or 1) * _MICROS[match.group(2)]
    if micros <= 0:
        raise InvalidInput(f"every must be a positive duration, got {every!r}", field="every")
    return micros


def _epoch_micros(times: object) -> npt.NDArray[np.int64]:
    """Microseconds since the Unix epoch (UTC) of each time."""
    import pandas as pd

    if getattr(getattr(times, "dtype", None), "tz", None) is not None:
        index = pd.DatetimeIndex(cast(Any, times))
        if index.hasnans or index.size == 0:
            raise InvalidInput("times is empty or holds missing values (NaT)", field="times")
        return np.asarray(index.tz_convert("UTC").as_unit("us").asi8, dtype=np.int64)
    array = as_1d(times, "times")
    if array.dtype.kind == "M":
        return array.astype("datetime64[us]").astype(np.int64)
    values = array.astype(object)
    naive = np.frompyfunc(lambda v: getattr(v, "tzinfo", None) is None, 1, 1)(values)
    if naive.astype(bool).any():
        raise InvalidInput(
            f"times holds {int(naive.sum())} values that are not timezone-aware datetimes "
            f"(first: {values[naive.astype(bool)][0]!r}); pass aware datetimes or numpy "
            "datetime64 values in UTC",
            field="times",
        )
    try:
        parsed = pd.to_datetime(values, utc=True)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"times cannot be read as datetimes: {exc}", field="times") from exc
    return np.asarray(parsed.as_unit("us").asi8, dtype=np.int64)


def metrics_over_time(
    times: object,
    y_true: object,
    y_pred: object,
    *,
    y_score: object = None,
    every: str | timedelta = "1h",
    task: Literal["classification", "regression"] = "classification",
    positive: Any = None,
    labels: object = None,
) -> list[WindowMetrics]:
    """The metrics of each non-empty window of length ``every``, oldest first.

    Windows are aligned to the Unix epoch in UTC: a row at time t falls in
    ``[floor(t / every) * every, ... + every)``, so "1d" windows are UTC days
    and two calls agree on their boundaries. ``every`` is a timedelta or a
    string such as "30s", "15min", "1h", "1d", "1w". Classification labels
    and ``positive`` are resolved over all rows, so every window is scored
    against the same label set.
    """
    if task not in ("classification", "regression"):
        raise InvalidInput(
            f"task must be 'classification' or 'regression', got {task!r}", field="task"
        )
    step = _every_micros(every)
    stamps = _epoch_micros(times)
    score_rows: Callable[[IntArray], ClassificationMetrics | RegressionMetrics]
    rows: AnyArray
    if task == "classification":
        data = _encode(y_true, y_pred, y_score, positive, labels)
        rows = data.true

        def score_rows(idx: IntArray) -> ClassificationMetrics | RegressionMetrics:
            return _classification(data.take(idx))

    else:
        if y_score is not None or positive is not None or labels is not None:
            raise InvalidInput(
                "y_score, positive and labels apply to classification; leave them out",
                field="task",
            )
        true, pred = _float_column(y_true, "y_true"), _float_column(y_pred, "y_pred")
        same_length(true, "y_true", pred, "y_pred")
        rows = true

        def score_rows(idx: IntArray) -> ClassificationMetrics | RegressionMetrics:
            return _regression(true[idx], pred[idx])

    same_length(rows, "y_true", stamps, "times")
    starts, window = np.unique(stamps - stamps % step, return_inverse=True)
    groups = np.split(np.argsort(window, kind="stable"), np.cumsum(np.bincount(window))[:-1])
    out = []
    for start, idx in zip(starts.tolist(), groups, strict=True):
        begin = _EPOCH + timedelta(microseconds=start)
        end = begin + timedelta(microseconds=step)
        out.append(WindowMetrics(begin, end, int(idx.size), score_rows(idx)))
    return out
