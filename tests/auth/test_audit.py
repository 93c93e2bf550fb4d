"""The audit log service: append, filter, page."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln import auth
from kiln.db import Database, utcnow
from kiln.errors import InvalidInput


def _entry(action: str, project: str = "default", actor: str = "ada") -> auth.AuditRecord:
    return auth.AuditRecord(
        action=action,
        method="POST",
        path=f"/api/v1/{action}",
        status_code=201,
        outcome="ok",
        actor=actor,
        project=project,
    )


def test_filters_and_paging(db: Database) -> None:
    before = utcnow() - timedelta(seconds=1)
    for number in range(12):
        db.run(auth.record, _entry(f"a{number % 3}", actor="ada" if number % 2 else "eve"))
    db.run(auth.record, _entry("elsewhere", project="other"))
    page = db.read(auth.list_entries, project="default", limit=5)
    assert len(page) == 5
    assert [e.id for e in page] == sorted((e.id for e in page), reverse=True)
    rest = db.read(auth.list_entries, project="default", before_id=page[-1].id, limit=100)
    assert len(page) + len(rest) == 12
    assert {e.actor for e in db.read(auth.list_entries, actor="ada")} == {"ada"}
    assert len(db.read(auth.list_entries, action="a0")) == 4
    assert len(db.read(auth.list_entries, since=before)) == 13
    assert db.read(auth.list_entries, until=before) == []
    assert db.read(auth.list_entries, project="other")[0].action == "elsewhere"


def test_limit_is_bounded(db: Database) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        db.read(auth.list_entries, limit=0)
    with pytest.raises(InvalidInput, match="limit"):
        db.read(auth.list_entries, limit=auth.MAX_AUDIT_PAGE + 1)


def test_long_values_are_truncated_not_refused(db: Database) -> None:
    db.run(auth.record, _entry("x" * 500))
    assert len(db.read(auth.list_entries)[0].action) == 128
