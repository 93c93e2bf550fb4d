"""Materialization: the newest row of each entity in a time window, into the online store.

For a view and a window of event times ``(start, end]`` (no start: from the
beginning), DuckDB reduces the source to one row per entity — the latest
event, ties ranked as in historical retrieval (created timestamp, then
position) — skipping rows already older than the ttl at ``end``, and the
rows stream into the online store in Arrow batches. The store keeps a row
only when it is not older than the stored one, so windows may overlap and a
backfill of an old range never hides newer values.

Each materialization is recorded (``feature_materializations``): window,
counts, the newest event written (the view's freshness) and statistics of
the values written, for the catalog. The newest completed ``end`` of a view
and store is the watermark an incremental materialization starts from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.auth import project_id as _project_id
from kiln.db._base import utcnow
from kiln.db.tables import FeatureMaterializationRow
from kiln.features._definitions import FeatureView
from kiln.features._online_rows import encode_keys, encode_payloads
from kiln.features._pit import quote

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from kiln.features._online import OnlineStore

__all__ = [
    "Materialization",
    "Progress",
    "fail_record",
    "finish_record",
    "materialization_history",
    "materialize_view",
    "start_record",
    "watermark",
]

#: Called as rows are written: (view name, rows written so far, rows in total).
Progress = Callable[[str, int, int], None]

_EVENT = "__kiln_event"
_POSITION = "__kiln_position"
BATCH_ROWS = 50_000


@dataclass(frozen=True, slots=True)
class Materialization:
    """What one materialization of a view did."""

    view: str
    view_version: int
    start: datetime | None
    end: datetime
    rows_read: int
    keys_written: int
    newest_event: datetime | None
    seconds: float
    statistics: dict[str, Any] = field(default_factory=dict)
    status: str = "COMPLETED"
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("start", "end", "newest_event"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data


def _latest(
    connection: duckdb.DuckDBPyConnection,
    view: FeatureView,
    start: datetime | None,
    end: datetime,
    *,
    skip_expired: bool,
) -> int:
    """Fill the table ``latest`` with the newest row per entity; return how many."""
    keys = ", ".join(quote(key) for key in view.join_keys)
    event = f"CAST({quote(view.event_timestamp)} AS TIMESTAMPTZ)"
    newest = f"{quote(view.created_timestamp)} DESC NULLS LAST, " if view.created_timestamp else ""
    conditions = [f"{event} <= $end"]
    params: dict[str, Any] = {"end": end}
    if start is not None:
        conditions.append(f"{event} > $start")
        params["start"] = start
    if view.ttl is not None and skip_expired:
        conditions.append(f"{event} >= $oldest")
        params["oldest"] = end - view.ttl
    conditions += [f"{quote(key)} IS NOT NULL" for key in view.join_keys]
    features = ", ".join(quote(name) for name in view.feature_names)
    connection.execute(
        f"CREATE TABLE latest AS SELECT {keys}, {event} AS {_EVENT}, {features} FROM source "
        f"WHERE {' AND '.join(conditions)} "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} "
        f"ORDER BY {event} DESC, {newest}{_POSITION} DESC) = 1",
        params,
    )
    ((found,),) = connection.execute("SELECT count(*) FROM latest").fetchall()
    return int(found)


def _statistics(connection: duckdb.DuckDBPyConnection, view: FeatureView) -> dict[str, Any]:
    """Per feature of the rows written: nulls, and min/max/mean/std or distinct values."""
    parts = []
    for feature in view.features:
        name = quote(feature.name)
        if feature.dtype == "float64":  # NaN counts as missing, as it reads online
            name = f"nullif({name}, 'NaN'::DOUBLE)"
        parts.append(f"count({name})")
        if feature.dtype in ("int64", "float64"):
            parts += [
                f"min({name})::DOUBLE",
                f"max({name})::DOUBLE",
                f"avg({name})::DOUBLE",
                f"stddev_samp({name})::DOUBLE",
            ]
        elif feature.dtype == "bool":
            parts.append(f"avg({name}::INTEGER)::DOUBLE")
        else:
            parts.append(f"approx_count_distinct({name})")
    (row,) = connection.execute(f"SELECT count(*), {', '.join(parts)} FROM latest").fetchall()
    values = list(row)
    total = int(values.pop(0))
    found: dict[str, Any] = {}
    for feature in view.features:
        present = int(values.pop(0))
        stats: dict[str, Any] = {"dtype": feature.dtype, "count": total, "nulls": total - present}
        if feature.dtype in ("int64", "float64"):
            for label in ("min", "max", "mean", "std"):
                stats[label] = values.pop(0)
        elif feature.dtype == "bool":
            stats["true_share"] = values.pop(0)
        else:
            stats["distinct"] = int(values.pop(0))
        found[feature.name] = stats
    return found


def materialize_view(
    store: OnlineStore,
    table_name: str,
    view: FeatureView,
    *,
    view_version: int,
    start: datetime | None,
    end: datetime,
    progress: Progress | None = None,
    batch_rows: int = BATCH_ROWS,
    rows: pa.Table | None = None,
) -> Materialization:
    """Write the newest row per entity of ``view`` in ``(start, end]`` to ``store``.

    ``rows`` replaces the view's source (pushed rows); they are written even
    when older than the ttl, since the ttl is the reader's to apply.
    """
    import duckdb
    import pyarrow as pa
    import pyarrow.compute as pc

    began = time.perf_counter()
    source = view.read() if rows is None else rows
    rows_read = source.num_rows
    source = source.append_column(_POSITION, pa.array(range(rows_read), pa.int64()))
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        connection.register("source", source)
        total = _latest(connection, view, start, end, skip_expired=rows is None)
        del source
        statistics = _statistics(connection, view)
        ((newest,),) = connection.execute(f"SELECT max({_EVENT}) FROM latest").fetchall()
        if progress is not None:
            progress(view.name, 0, total)
        written = 0
        reader = connection.sql("SELECT * FROM latest").to_arrow_reader(batch_rows)
        for batch in reader:
            table = pa.Table.from_batches([batch])
            keys = encode_keys(table, list(view.join_keys))
            events = pc.cast(
                pc.cast(table.column(_EVENT), pa.timestamp("us", tz="UTC")), pa.int64()
            ).to_pylist()
            payloads = encode_payloads(table, view.feature_names)
            store.write(table_name, zip(keys, events, payloads, strict=True))
            written += table.num_rows
            if progress is not None:
                progress(view.name, written, total)
    finally:
        connection.close()
    return Materialization(
        view=view.name,
        view_version=view_version,
        start=start,
        end=end,
        rows_read=rows_read,
        keys_written=written,
        newest_event=newest,
        seconds=round(time.perf_counter() - began, 4),
        statistics=statistics,
    )


def start_record(
    session: Session,
    project: str,
    *,
    view: str,
    view_version: int,
    store: str,
    start: datetime | None,
    end: datetime,
    user: str = "",
) -> int:
    """Record a materialization as RUNNING; return its id."""
    row = FeatureMaterializationRow(
        project_id=_project_id(session, project),
        view=view,
        view_version=view_version,
        store=store,
        start=start,
        end=end,
        status="RUNNING",
        created_by=user,
    )
    session.add(row)
    session.flush()
    return row.id


def finish_record(session: Session, record_id: int, result: Materialization) -> None:
    row = session.get_one(FeatureMaterializationRow, record_id)
    row.status = "COMPLETED"
    row.rows_read = result.rows_read
    row.keys_written = result.keys_written
    row.newest_event = result.newest_event
    row.statistics = json.dumps(result.statistics, sort_keys=True)
    row.finished_at = utcnow()


def fail_record(session: Session, record_id: int, error: str) -> None:
    row = session.get_one(FeatureMaterializationRow, record_id)
    row.status = "FAILED"
    row.error = error
    row.finished_at = utcnow()


def watermark(session: Session, project: str, view: str, store: str) -> datetime | None:
    """The newest completed ``end`` of ``view`` into ``store``: where incremental resumes."""
    from sqlalchemy import func

    found: datetime | None = session.scalar(
        select(func.max(FeatureMaterializationRow.end)).where(
            FeatureMaterializationRow.project_id == _project_id(session, project),
            FeatureMaterializationRow.view == view,
            FeatureMaterializationRow.store == store,
            FeatureMaterializationRow.status == "COMPLETED",
        )
    )
    return found


def materialization_history(
    session: Session, project: str, view: str | None = None, *, limit: int = 50
) -> list[Materialization]:
    """Materializations of the project (or of one view), newest first."""
    query = select(FeatureMaterializationRow).where(
        FeatureMaterializationRow.project_id == _project_id(session, project)
    )
    if view is not None:
        query = query.where(FeatureMaterializationRow.view == view)
    rows = session.scalars(query.order_by(FeatureMaterializationRow.id.desc()).limit(limit))
    return [
        Materialization(
            view=row.view,
            view_version=row.view_version,
            start=row.start,
            end=row.end,
            rows_read=row.rows_read,
            keys_written=row.keys_written,
            newest_event=row.newest_event,
            seconds=(
                (row.finished_at - row.started_at).total_seconds() if row.finished_at else 0.0
            ),
            statistics=json.loads(row.statistics or "{}"),
            status=row.status,
            error=row.error,
        )
        for row in rows
    ]
