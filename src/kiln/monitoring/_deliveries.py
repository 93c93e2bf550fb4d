"""Delivering an alert to its sinks, and the record of each delivery.

::

    deliver_alert(context, alert, specs)      the alert is already stored
      for each sink spec, independently:
        sink_from_spec ──► sink.deliver, up to ``attempts`` times, waiting
        ``backoff`` s, then twice that, …; InvalidInput is not tried again
      ──► one alert_deliveries row per sink: DELIVERED or FAILED (the last error)
    list_deliveries(session, project, alert_id) ──► [AlertDelivery], oldest first

A sink that fails never stops the others, and never loses the alert: it
was committed before the first delivery, and its FAILED row says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.alerts import get_alert
from kiln.db import utcnow
from kiln.db.tables import AlertDeliveryRow
from kiln.errors import InvalidInput

if TYPE_CHECKING:
    from kiln.alerts import Alert
    from kiln.context import Context

__all__ = [
    "ATTEMPTS",
    "BACKOFF",
    "AlertDelivery",
    "DeliveryStatus",
    "deliver_alert",
    "list_deliveries",
    "record_delivery",
]

logger = logging.getLogger("kiln.monitoring.alerts")

#: Tries per sink before its delivery is FAILED.
ATTEMPTS = 3
#: Seconds before the second try; each later wait doubles.
BACKOFF = 0.5
#: Characters of an error kept on a delivery row.
ERROR_LENGTH = 2000


class DeliveryStatus(StrEnum):
    """What came of delivering an alert to one sink."""

    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class AlertDelivery:
    """The delivery of one alert to one sink: how many tries, and the last error."""

    id: int
    alert_id: int
    sink: str
    status: DeliveryStatus
    attempts: int
    error: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "sink": self.sink,
            "status": self.status.value,
            "attempts": self.attempts,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
        }


def _delivery(row: AlertDeliveryRow) -> AlertDelivery:
    return AlertDelivery(
        id=row.id,
        alert_id=row.alert_id,
        sink=row.sink,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        error=row.error,
        created_at=row.created_at,
    )


def record_delivery(
    session: Session,
    alert_id: int,
    *,
    sink: str,
    status: DeliveryStatus,
    attempts: int,
    error: str = "",
) -> AlertDelivery:
    """Store what came of one sink's delivery of alert ``alert_id``."""
    row = AlertDeliveryRow(
        alert_id=alert_id,
        sink=sink[:1024],
        status=DeliveryStatus(status).value,
        attempts=attempts,
        error=error[:ERROR_LENGTH],
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return _delivery(row)


def list_deliveries(session: Session, project: str, alert_id: int) -> list[AlertDelivery]:
    """The deliveries of alert ``alert_id`` of ``project`` (``NotFound`` if it is not there)."""
    get_alert(session, project, alert_id)
    rows = session.scalars(
        select(AlertDeliveryRow)
        .where(AlertDeliveryRow.alert_id == alert_id)
        .order_by(AlertDeliveryRow.id)
    )
    return [_delivery(row) for row in rows]


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _deliver_one(
    context: Context, alert: Alert, spec: Mapping[str, Any], attempts: int, backoff: float
) -> tuple[str, DeliveryStatus, int, str]:
    from kiln.monitoring._sinks import sink_from_spec

    label = str(spec.get("kind", "?")) if isinstance(spec, Mapping) else "?"
    try:
        sink = sink_from_spec(spec)
        label = sink.label
    except Exception as exc:  # a sink whose package is gone must not stop the others
        return label, DeliveryStatus.FAILED, 0, _describe(exc)
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            sink.deliver(alert, context)
        except InvalidInput as exc:
            return label, DeliveryStatus.FAILED, attempt, _describe(exc)
        except Exception as exc:  # any failure of a sink is recorded, never raised
            error = _describe(exc)
            logger.info("alert %d: %s attempt %d failed: %s", alert.id, label, attempt, error)
            if attempt < attempts:
                time.sleep(backoff * 2 ** (attempt - 1))
            continue
        return label, DeliveryStatus.DELIVERED, attempt, ""
    return label, DeliveryStatus.FAILED, attempts, error


def deliver_alert(
    context: Context,
    alert: Alert,
    specs: Sequence[Mapping[str, Any]],
    *,
    attempts: int = ATTEMPTS,
    backoff: float = BACKOFF,
) -> list[AlertDelivery]:
    """Deliver a stored alert to each sink of ``specs``; one record per sink, in order."""
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise InvalidInput(f"attempts must be 1 or more, got {attempts!r}", field="attempts")
    if isinstance(backoff, bool) or not isinstance(backoff, int | float) or backoff < 0:
        raise InvalidInput(f"backoff must be 0 s or more, got {backoff!r}", field="backoff")
    records = []
    for spec in specs:
        label, status, tries, error = _deliver_one(context, alert, spec, attempts, backoff)
        if status is DeliveryStatus.FAILED:
            logger.warning(
                "alert %d: delivery to %s FAILED after %d attempt(s): %s",
                alert.id,
                label,
                tries,
                error,
            )
        records.append(
            context.db.run(
                record_delivery,
                alert.id,
                sink=label,
                status=status,
                attempts=tries,
                error=error,
            )
        )
    return records
