"""Evaluating a monitor: read its target's data per window, compute, store each window.

::

    evaluate_monitor(context, project, name, since=, until=)
      deployment target: windows aligned to the epoch, of the spec's length, that
        overlap [since, until) ──► one read of the prediction log (flat rows + labels)
        ──► split by window ──► evaluate_window ──► report blob + monitor_results row
      dataset target: its newest version (or ``version=``) is one window
    ──► [MonitorResult], oldest first

Without ``since``, a deployment monitor starts where its newest stored
window starts (that window is evaluated again: labels may have arrived),
or one window before ``until`` when it has none. Evaluating a window again
replaces its result. Windows with no rows are not stored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from kiln.errors import InvalidInput
from kiln.monitoring._logged_rows import TIME, count_unknown_labels, read_logged_rows
from kiln.monitoring._monitors import Monitor, get_monitor
from kiln.monitoring._reference import NumericSketch, ReferenceProfile
from kiln.monitoring._results import MonitorResult, list_results, store_result
from kiln.monitoring._window import evaluate_window, feature_columns, window_metrics

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["evaluate_monitor", "window_bounds"]

#: At most this many windows per evaluation (a year of hours is 8,760).
MAX_WINDOWS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidInput(f"{field} must be a timezone-aware datetime, got {value!r}", field=field)
    return value.astimezone(UTC)


def window_bounds(since: datetime, until: datetime, length: timedelta) -> list[datetime]:
    """Starts of the epoch-aligned windows of ``length`` overlapping ``[since, until)``."""
    first = _EPOCH + ((since - _EPOCH) // length) * length
    count = max(0, -(-(until - first) // length))
    if count > MAX_WINDOWS:
        raise InvalidInput(
            f"{count:,} windows of {length} between {since} and {until}; evaluate at most "
            f"{MAX_WINDOWS:,} at once (narrow since/until or lengthen the window)",
            field="since",
        )
    return [first + i * length for i in range(count)]


def _store(
    context: Context,
    monitor: Monitor,
    window: dict[str, Any],
    start: datetime,
    end: datetime,
) -> MonitorResult:
    document = {"start": start.isoformat(), "end": end.isoformat()} | window
    blob = context.artifacts.put_bytes(orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY))
    return context.db.run(
        store_result,
        monitor.project,
        monitor.name,
        start=start,
        end=end,
        rows=int(window["rows"]),
        metrics=window_metrics(window),
        digest=blob.digest,
    )


def _deployment(
    context: Context,
    monitor: Monitor,
    profile: ReferenceProfile,
    since: datetime | None,
    until: datetime,
) -> list[MonitorResult]:
    spec = monitor.spec
    length = spec.window_length
    if since is None:
        newest = context.db.read(list_results, monitor.project, monitor.name, limit=1)
        since = newest[0].start if newest else until - length
    starts = window_bounds(since, until, length)
    if not starts:
        return []
    begin, end = starts[0], starts[-1] + length
    features = feature_columns(profile, spec, spec.label)
    numeric = {n for n in features if isinstance(profile.columns.get(n), NumericSketch)}
    outputs = [name for name in (spec.prediction,) if name]
    logged = read_logged_rows(
        context,
        monitor.project,
        monitor.target,
        since=begin,
        until=end,
        numeric=numeric,
        outputs=outputs,
        score=spec.score,
        labels=spec.task is not None,
    )
    table = logged.table
    if spec.task is not None:
        from kiln.monitoring._logged_rows import LABEL, REQUEST_ID

        unknown = count_unknown_labels(
            context,
            monitor.project,
            monitor.target,
            set(table[REQUEST_ID].to_pylist()),
            since=begin,
            until=end,
        )
        table = table.rename_columns([spec.label if n == LABEL else n for n in table.column_names])
    else:
        unknown = 0
    micros = pc.cast(table[TIME], pa.int64()).to_numpy(zero_copy_only=False)
    length_us = length // timedelta(microseconds=1)
    window_of = (micros - (begin - _EPOCH) // timedelta(microseconds=1)) // length_us
    results = []
    for index in np.unique(window_of).tolist():
        rows = table.filter(pa.array(window_of == index))
        start = begin + int(index) * length
        window = evaluate_window(
            profile,
            spec,
            rows,
            type_errors=_type_errors(logged.type_errors, rows),
            unknown_labels=unknown,
        )
        results.append(_store(context, monitor, window, start, start + length))
    return results


def _type_errors(counted: dict[str, int], rows: pa.Table) -> dict[str, int]:
    # Type errors are counted over the whole read; they are reported with every window.
    return {name: count for name, count in counted.items() if name in rows.column_names}


def _dataset(
    context: Context, monitor: Monitor, profile: ReferenceProfile, version: Any
) -> list[MonitorResult]:
    from kiln.data import _service
    from kiln.data._datasets import get_version

    ref = f"{monitor.target}@{version}" if version is not None else f"{monitor.target}@latest"
    found = context.db.read(get_version, monitor.project, ref)
    table = _service.load(context.db, context.artifacts, monitor.project, found)
    window = evaluate_window(profile, monitor.spec, table)
    window["dataset_version"] = f"{found.name}@{found.version}"
    created = found.created_at.astimezone(UTC)
    return [_store(context, monitor, window, created, created)]


def evaluate_monitor(
    context: Context,
    project: str,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    version: int | None = None,
) -> list[MonitorResult]:
    """Evaluate monitor ``name`` and store each window's result; returns them oldest first.

    ``since``/``until`` (aware datetimes) bound a deployment monitor's
    windows; ``version`` picks a dataset monitor's version (default: newest).
    """
    from kiln.monitoring._profiles import load_profile

    since = _aware(since, "since")
    until = _aware(until, "until") or datetime.now(UTC)
    if since is not None and since >= until:
        raise InvalidInput(f"since ({since}) must be before until ({until})", field="since")
    monitor = context.db.read(get_monitor, project, name)
    _, profile = load_profile(context, project, monitor.spec.profile)
    if monitor.target_kind == "dataset":
        return _dataset(context, monitor, profile, version)
    return _deployment(context, monitor, profile, since, until)
