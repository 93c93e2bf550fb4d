"""A monitor's evaluated windows: services on a ``Session`` that store and list them.

Each window leaves one ``monitor_results`` row: its flat metrics (what alert
rules and charts read, without opening blobs) and the digest of the
window's full report in the artifact store. Storing a window that was
evaluated before replaces its row: labels that arrive late change its
performance, and the newest evaluation is the one that counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.db import utcnow
from kiln.db.tables import MonitorResultRow, MonitorRow
from kiln.errors import InvalidInput
from kiln.monitoring._monitors import monitor_row

__all__ = ["MAX_RESULTS", "MonitorResult", "list_results", "store_result"]

#: Listings return at most this many windows.
MAX_RESULTS = 10_000


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """One evaluated window: ``[start, end)``, its rows, flat metrics and report blob."""

    monitor: str
    start: datetime
    end: datetime
    rows: int
    metrics: dict[str, float]
    digest: str
    computed_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "metrics": self.metrics,
            "digest": self.digest,
            "computed_at": self.computed_at.isoformat(),
        }


def _result(row: MonitorResultRow, monitor: str) -> MonitorResult:
    return MonitorResult(
        monitor=monitor,
        start=row.window_start,
        end=row.window_end,
        rows=row.rows,
        metrics=json.loads(row.metrics),
        digest=row.digest,
        computed_at=row.computed_at,
    )


def store_result(
    session: Session,
    project: str,
    monitor: str,
    *,
    start: datetime,
    end: datetime,
    rows: int,
    metrics: dict[str, float],
    digest: str,
) -> MonitorResult:
    """Record a window's evaluation, replacing an earlier one of the same window."""
    owner: MonitorRow = monitor_row(session, project, monitor)
    row = session.scalars(
        select(MonitorResultRow).where(
            MonitorResultRow.monitor_id == owner.id,
            MonitorResultRow.window_start == start,
            MonitorResultRow.window_end == end,
        )
    ).first()
    if row is None:
        row = MonitorResultRow(monitor_id=owner.id, window_start=start, window_end=end)
        session.add(row)
    row.rows = rows
    row.metrics = json.dumps(metrics, sort_keys=True)
    row.digest = digest
    row.computed_at = utcnow()
    session.flush()
    return _result(row, monitor)


def list_results(
    session: Session,
    project: str,
    monitor: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[MonitorResult]:
    """The monitor's windows ending in ``(since, until]``, oldest first, the newest ``limit``."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
        raise InvalidInput(f"limit must be between 1 and {MAX_RESULTS}", field="limit")
    owner = monitor_row(session, project, monitor)
    query = select(MonitorResultRow).where(MonitorResultRow.monitor_id == owner.id)
    if since is not None:
        query = query.where(MonitorResultRow.window_end > since)
    if until is not None:
        query = query.where(MonitorResultRow.window_end <= until)
    query = query.order_by(MonitorResultRow.window_end.desc(), MonitorResultRow.id.desc())
    rows = list(session.scalars(query.limit(limit)))
    return [_result(row, monitor) for row in reversed(rows)]
