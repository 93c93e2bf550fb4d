"""Alert services on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from kiln.alerts import AlertStatus, get_alert, list_alerts, raise_alert, resolve_alert
from kiln.db import Database
from kiln.errors import Conflict, InvalidInput, NotFound


def _raise(db: Database, subject: str = "r/check") -> int:
    alert = db.run(
        raise_alert,
        "default",
        kind="data_validation",
        severity="critical",
        title="gate paused",
        subject_kind="step_run",
        subject_id=subject,
        details={"failures": [{"name": "range", "observed": 0.5}]},
    )
    return alert.id


def test_an_alert_is_open_until_closed_once(db: Database) -> None:
    first = _raise(db)
    _raise(db, "other/check")
    assert [a.subject_id for a in db.read(list_alerts, "default")] == ["other/check", "r/check"]
    assert db.read(get_alert, "default", first).details["failures"][0]["observed"] == 0.5

    closed = db.run(
        resolve_alert, "default", first, status="ACCEPTED", by="ana", resolution="expected"
    )
    assert closed.status is AlertStatus.ACCEPTED
    assert closed.resolved_by == "ana"
    assert closed.resolved_at is not None
    with pytest.raises(Conflict, match="already ACCEPTED"):
        db.run(resolve_alert, "default", first, status="RESOLVED", by="bo")
    assert [a.id for a in db.read(list_alerts, "default", status="OPEN")] != [first]
    assert [a.id for a in db.read(list_alerts, "default", subject_id="r/check")] == [first]


def test_bad_input_names_the_field(db: Database) -> None:
    with pytest.raises(InvalidInput) as bad:
        db.run(
            raise_alert,
            "default",
            kind="x",
            severity="meh",
            title="t",
            subject_kind="run",
            subject_id="r",
            details={},
        )
    assert bad.value.field == "severity"
    with pytest.raises(InvalidInput) as bad:
        db.read(list_alerts, "default", status="CLOSED")
    assert bad.value.field == "status"
    with pytest.raises(InvalidInput):
        db.run(resolve_alert, "default", _raise(db), status="OPEN", by="x")
    with pytest.raises(NotFound):
        db.read(get_alert, "default", 999)
