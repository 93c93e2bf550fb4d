"""The index of the prediction log's batches, and reading the log back over a time range.

Services take a ``Session`` first, like every domain's; ``read_predictions``
takes the ``Context`` because it reads both stores: the index rows in one
short read transaction, then the blobs they name, outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.db import utcnow
from kiln.db.tables import PredictionBatchRow, ProjectRow
from kiln.db.tables.serving import DEPLOYMENT_LENGTH
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    import pyarrow as pa

    from kiln.context import Context

__all__ = [
    "BatchRef",
    "NewBatch",
    "batches_in_range",
    "check_deployment",
    "check_range",
    "in_range",
    "insert_batches",
    "read_batches",
    "read_predictions",
]


@dataclass(frozen=True, slots=True)
class NewBatch:
    """What the index records of a batch whose blob is stored already."""

    deployment: str
    digest: str
    size: int
    rows: int
    input_rows: int
    first_time: datetime
    last_time: datetime


@dataclass(frozen=True, slots=True)
class BatchRef:
    """An indexed batch: its blob and the request times it covers."""

    digest: str
    rows: int
    first_time: datetime
    last_time: datetime


def check_deployment(name: Any, *, field: str = "deployment") -> str:
    """A deployment name as the log stores it: a non-empty string of at most 128 characters."""
    if not isinstance(name, str) or not name or len(name) > DEPLOYMENT_LENGTH:
        raise InvalidInput(
            f"a deployment name is 1-{DEPLOYMENT_LENGTH} characters, got {name!r}", field=field
        )
    return name


def check_range(since: datetime | None, until: datetime | None) -> None:
    """``since`` and ``until`` are aware datetimes (or None), ``since`` before ``until``."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise InvalidInput(
                f"{name} must be a timezone-aware datetime, got {value!r}; "
                "e.g. datetime(2026, 1, 1, tzinfo=UTC)",
                field=name,
            )
    if since is not None and until is not None and since >= until:
        raise InvalidInput(
            f"since ({since.isoformat()}) must be before until ({until.isoformat()})",
            field="until",
        )


def insert_batches(session: Session, project: str, batches: Sequence[NewBatch]) -> int:
    """Index stored batches; one indexed already (a retried insert) is left alone.

    Returns how many rows were new.
    """
    if not batches:
        return 0
    owner = project_id(session, project)
    now = utcnow()
    rows = [
        {
            "project_id": owner,
            "deployment": batch.deployment,
            "digest": batch.digest,
            "size": batch.size,
            "rows": batch.rows,
            "input_rows": batch.input_rows,
            "first_time": batch.first_time,
            "last_time": batch.last_time,
            "created_at": now,
        }
        for batch in batches
    ]
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(PredictionBatchRow).on_conflict_do_nothing().returning(PredictionBatchRow.id)
    )
    return len(session.execute(statement, rows).all())


def batches_in_range(
    session: Session,
    project: str,
    deployment: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[BatchRef]:
    """The batches holding requests timed in ``[since, until)``, oldest first."""
    query = (
        select(
            PredictionBatchRow.digest,
            PredictionBatchRow.rows,
            PredictionBatchRow.first_time,
            PredictionBatchRow.last_time,
        )
        .join(ProjectRow, ProjectRow.id == PredictionBatchRow.project_id)
        .where(ProjectRow.name == project, PredictionBatchRow.deployment == deployment)
        .order_by(PredictionBatchRow.first_time, PredictionBatchRow.id)
    )
    if since is not None:
        query = query.where(PredictionBatchRow.last_time >= since)
    if until is not None:
        query = query.where(PredictionBatchRow.first_time < until)
    found = [BatchRef(*row) for row in session.execute(query)]
    if not found:
        project_id(session, project)  # NotFound for an unknown project
    return found


def read_batches(
    context: Context,
    project: str,
    deployment: str,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[tuple[BatchRef, pa.Table]]:
    """The indexed batches overlapping ``[since, until)`` with their tables, oldest first."""
    from kiln.serving._predictions_format import read_blob

    check_deployment(deployment)
    check_range(since, until)
    batches = context.db.read(batches_in_range, project, deployment, since, until)
    return [(batch, read_blob(context.artifacts, batch.digest)) for batch in batches]


def in_range(table: pa.Table, since: datetime | None, until: datetime | None) -> pa.Table:
    """The rows of ``table`` timed in ``[since, until)``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    times = table["time"]
    if since is not None:
        table = table.filter(pc.greater_equal(times, pa.scalar(since, times.type)))
        times = table["time"]
    if until is not None:
        table = table.filter(pc.less(times, pa.scalar(until, times.type)))
    return table


def read_predictions(
    context: Context,
    project: str,
    deployment: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pa.Table:
    """Every logged request of ``deployment`` timed in ``[since, until)``, sorted by time.

    Columns as docs/prediction-log.md lists them; ``inputs`` and ``outputs``
    are JSON text. Only flushed batches are seen: what a running server
    still buffers is not. An empty range gives an empty table.
    """
    import pyarrow as pa

    from kiln.serving._predictions_format import SCHEMA

    tables = [table for _, table in read_batches(context, project, deployment, since, until)]
    if not tables:
        return SCHEMA.empty_table()
    table = in_range(pa.concat_tables(tables, promote_options="default"), since, until)
    return table.sort_by([("time", "ascending"), ("request_id", "ascending")])
