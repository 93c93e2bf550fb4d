"""Pushing fresh feature rows: online at once, and appended to the view's offline log.

Streaming jobs and services that compute features as events arrive push
them here instead of waiting for the next materialization. The rows are
checked against the view's declaration, cast to the declared types,
appended to the push source's folder as one Parquet file (written aside,
then renamed into place, so a reader never sees half a file) and only then
written online — so the offline log, what training reads, never lacks a
value that serving has seen.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput
from kiln.features._definitions import FeatureView, arrow_type
from kiln.features._sources import PushSource, arrow_of

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.features._online import OnlineStore

__all__ = ["push_rows"]


def _table(rows: Any) -> pa.Table:
    import pandas as pd
    import pyarrow as pa

    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pd.DataFrame):
        return arrow_of(rows)
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        return arrow_of(pd.DataFrame(rows))
    raise InvalidInput(
        "pushed rows must be a DataFrame, an Arrow table or a list of dicts", field="rows"
    )


def _declared(view: FeatureView, table: pa.Table) -> pa.Table:
    """Only the declared columns, cast to the declared types."""
    import pyarrow as pa

    view.check_columns(table.schema)
    columns = {
        **view.join_keys,
        view.event_timestamp: "timestamp",
        **({view.created_timestamp: "timestamp"} if view.created_timestamp else {}),
        **{f.name: f.dtype for f in view.features},
    }
    arrays = {}
    for name, dtype in columns.items():
        try:
            arrays[name] = table.column(name).cast(arrow_type(dtype))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InvalidInput(
                f"feature view {view.name!r}: pushed column {name!r} cannot be read as "
                f"{dtype}: {error}",
                field=name,
            ) from None
    return pa.table(arrays)


def _append(folder: Path, table: pa.Table) -> Path:
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"part-{stamp}-{uuid.uuid4().hex[:12]}.parquet"
    aside = folder / f".{name}.tmp"  # a leading dot: readers skip it
    pq.write_table(table, aside)
    os.replace(aside, folder / name)
    return folder / name


def push_rows(store: OnlineStore, table_name: str, view: FeatureView, rows: Any) -> int:
    """Append ``rows`` to the view's offline log and write them online; return how many."""
    import pyarrow.compute as pc

    from kiln.features._materialize import materialize_view

    if not isinstance(view.source, PushSource):
        raise InvalidInput(
            f"feature view {view.name!r} reads a {view.source.kind} source; only views with a "
            "PushSource accept pushed rows",
            field="view",
        )
    table = _declared(view, _table(rows))
    if table.num_rows == 0:
        return 0
    _append(Path(view.source.path).expanduser(), table)
    newest = pc.max(table.column(view.event_timestamp)).as_py()
    materialize_view(store, table_name, view, view_version=0, start=None, end=newest, rows=table)
    pushed: int = table.num_rows
    return pushed
