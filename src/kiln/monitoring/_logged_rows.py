"""A deployment's prediction log over a time range, as one flat table of input rows.

The log keeps one record per request with its inputs and outputs as JSON
columns (docs/prediction-log.md); a monitor needs one row per scored input
row. This module reads the answered requests of the range — status below
400, no error, not a shadow's copy — and flattens each into its rows: the
input columns, the requested outputs, the request's id, time, route and
model version. Values that do not fit a column's expected type (text in a
numeric column) become null and are counted, so the quality check reports
them as type errors instead of the read failing.

Labels posted for the requests (``prediction_labels``) are joined on the
request id; a list label gives one label per input row.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from kiln.context import Context

__all__ = ["LABEL", "REQUEST_ID", "TIME", "LoggedRows", "read_logged_rows"]

#: Columns the flat table adds beside the inputs and outputs.
TIME = "_time"
REQUEST_ID = "_request_id"
ROUTE = "_route"
VERSION = "_version"
MODEL = "_model"
LABEL = "_label"
_MISSING = object()


@dataclass(frozen=True)
class LoggedRows:
    """The flat rows, what could not be read, and the label join's counts."""

    table: pa.Table
    requests: int
    type_errors: dict[str, int]
    malformed_requests: int
    labeled_rows: int
    mismatched_labels: int


def _answered(table: pa.Table) -> pa.Table:
    keep = pc.and_(
        pc.and_(pc.less(table["status"], 400), pc.is_null(table["error"])),
        pc.not_equal(table["route"], "shadow"),
    )
    return table.filter(keep)


def _column(values: list[Any], numeric: bool) -> tuple[pa.Array, int]:
    """One column's values as Arrow; in a numeric column, non-numbers become null, counted."""
    if numeric:
        bad = [
            i
            for i, v in enumerate(values)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
        ]
        if bad:
            values = list(values)
            for i in bad:
                values[i] = None
        return pa.array(values, type=pa.float64()), len(bad)
    try:
        return pa.array(values), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        texts = [
            None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
            for v in values
        ]
        return pa.array(texts, type=pa.string()), 0


def _score(values: list[Any]) -> list[Any]:
    """A probability output: the positive class's column of ``[[p0, p1], …]`` rows."""
    return [v[-1] if isinstance(v, list) and v else v for v in values]


def read_logged_rows(
    context: Context,
    project: str,
    deployment: str,
    *,
    since: datetime | None,
    until: datetime | None,
    numeric: Collection[str] = (),
    outputs: Sequence[str] = (),
    score: str | None = None,
    labels: bool = False,
) -> LoggedRows:
    """The answered requests of ``deployment`` in ``[since, until)`` as one row per input row.

    ``numeric`` names the input columns read as numbers; ``outputs`` the
    outputs kept (as columns of the same names); ``score`` an output read as
    the positive class's probability; ``labels`` joins the posted labels as
    ``_label``.
    """
    from kiln.serving._predictions_index import read_predictions

    logged = _answered(read_predictions(context, project, deployment, since=since, until=until))
    ids = logged["request_id"].to_pylist()
    seen: set[str] = set()
    columns: dict[str, list[Any]] = {}
    extra: dict[str, list[Any]] = {TIME: [], REQUEST_ID: [], ROUTE: [], VERSION: [], MODEL: []}
    kept_outputs = list(dict.fromkeys([*outputs, *([score] if score else [])]))
    malformed = 0
    total = 0
    fields = [
        logged[name].to_pylist()
        for name in ("n_rows", "inputs", "outputs", "time", "route", "version", "model")
    ]
    for position, request_id in enumerate(ids):
        if request_id in seen:  # a retried write logged it twice
            continue
        seen.add(request_id)
        n_rows, inputs_text, outputs_text, time, route, version, model = (
            f[position] for f in fields
        )
        inputs = orjson.loads(inputs_text)
        produced = orjson.loads(outputs_text)
        shaped = isinstance(inputs, dict) and all(
            isinstance(v, list) and len(v) == n_rows for v in inputs.values()
        )
        if not shaped or not isinstance(produced, dict):
            malformed += 1
            continue
        chosen = {}
        for name in kept_outputs:
            values = produced.get(name)
            chosen[name] = (
                values if isinstance(values, list) and len(values) == n_rows else [None] * n_rows
            )
        for name, values in columns.items():
            if name not in inputs and name not in chosen:
                values.extend([None] * n_rows)
        for name, values in (inputs | chosen).items():
            if name not in columns:
                columns[name] = [None] * total
            columns[name].extend(values)
        extra[TIME].extend([time] * n_rows)
        extra[REQUEST_ID].extend([request_id] * n_rows)
        extra[ROUTE].extend([route] * n_rows)
        extra[VERSION].extend([version] * n_rows)
        extra[MODEL].extend([model] * n_rows)
        total += n_rows
    if score and score in columns:
        columns[score] = _score(columns[score])
    arrays: dict[str, pa.Array] = {}
    type_errors: dict[str, int] = {}
    for name, values in columns.items():
        arrays[name], bad = _column(values, name in numeric or name == score)
        if bad:
            type_errors[name] = bad
    arrays[TIME] = pa.array(extra[TIME], type=pa.timestamp("us", tz="UTC"))
    arrays[REQUEST_ID] = pa.array(extra[REQUEST_ID], type=pa.string())
    arrays[ROUTE] = pa.array(extra[ROUTE], type=pa.string())
    arrays[VERSION] = pa.array(extra[VERSION], type=pa.int64())
    arrays[MODEL] = pa.array(extra[MODEL], type=pa.string())
    labeled = mismatched = 0
    if labels:
        arrays[LABEL], labeled, mismatched = _labels(
            context, project, deployment, extra[REQUEST_ID]
        )
    return LoggedRows(pa.table(arrays), len(seen), type_errors, malformed, labeled, mismatched)


def _labels(
    context: Context, project: str, deployment: str, row_ids: list[str]
) -> tuple[pa.Array, int, int]:
    """The label of each row: its request's scalar label, or the row's item of a list label."""
    from kiln.serving._predictions_labels import labels_of

    found = context.db.read(labels_of, project, deployment, list(dict.fromkeys(row_ids)))
    out: list[Any] = []
    mismatched = 0
    position_in_request = 0
    previous = None
    sizes: dict[str, int] = {}
    for request_id in row_ids:
        sizes[request_id] = sizes.get(request_id, 0) + 1
    for request_id in row_ids:
        position_in_request = position_in_request + 1 if request_id == previous else 0
        previous = request_id
        label = found.get(request_id, _MISSING)
        if label is _MISSING:
            out.append(None)
        elif isinstance(label, list):
            if len(label) != sizes[request_id]:
                mismatched += 1 if position_in_request == 0 else 0
                out.append(None)
            else:
                out.append(label[position_in_request])
        else:
            out.append(label)
    labeled = sum(1 for value in out if value is not None)
    try:
        array = pa.array(out)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        array = pa.array([None if v is None else str(v) for v in out], type=pa.string())
    return array, labeled, mismatched


def window_starts(times: np.ndarray[Any, Any], length_us: int) -> np.ndarray[Any, Any]:
    """Each time's window start (microseconds since the epoch), windows aligned to the epoch."""
    return (times // length_us) * length_us


def count_unknown_labels(
    context: Context,
    project: str,
    deployment: str,
    known: Collection[str],
    *,
    since: datetime,
    until: datetime,
) -> int:
    """Labels posted from ``since`` on whose request id the log has nowhere from ``since`` on.

    ``known`` are the request ids read for ``[since, until)``; a candidate
    not among them is looked for in the requests logged after ``until``
    (a label for a later request is not unknown), which are read only when
    there are candidates.
    """
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from kiln.auth import project_id
    from kiln.db.tables import PredictionLabelRow
    from kiln.serving._predictions_index import read_predictions

    def query(session: Session) -> list[str]:
        statement = select(PredictionLabelRow.request_id).where(
            PredictionLabelRow.project_id == project_id(session, project),
            PredictionLabelRow.deployment == deployment,
            PredictionLabelRow.updated_at >= since,
        )
        return list(session.scalars(statement))

    known_ids = set(known)
    candidates = {
        request_id for request_id in context.db.read(query) if request_id not in known_ids
    }
    if not candidates:
        return 0
    later = read_predictions(context, project, deployment, since=until)["request_id"].to_pylist()
    return len(candidates - set(later))
