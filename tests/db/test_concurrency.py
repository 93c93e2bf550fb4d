"""Many processes writing to one store at once lose nothing and see no lock errors."""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kiln.db import Database
from kiln.db.tables import AuditLogRow, ProjectRow

WRITERS = 8
ROWS_PER_WRITER = 150


def _read_then_write(session: Session, writer: int, row: int) -> None:
    # Reading first, then writing, is the pattern that makes SQLite fail with
    # "database is locked" when a deferred transaction upgrades its lock.
    session.scalar(select(func.count()).select_from(AuditLogRow))
    session.add(
        AuditLogRow(
            action="concurrent_write",
            method="POST",
            path=f"/w/{writer}/{row}",
            status_code=201,
            outcome="ok",
        )
    )
    if row % 25 == 0:
        session.add(ProjectRow(name=f"w{writer}-r{row}", description=""))


def _writer(url: str, writer: int, start: multiprocessing.synchronize.Event) -> int:  # type: ignore[name-defined]
    db = Database(url)
    db.engine  # noqa: B018  (open before the start signal, so all write together)
    start.wait()
    for row in range(ROWS_PER_WRITER):
        db.run(_read_then_write, writer, row)
    db.dispose()
    return writer


def _hammer(url: str) -> None:
    setup = Database(url)
    setup.upgrade()
    setup.dispose()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(WRITERS) as pool:
        pending = [pool.apply_async(_writer, (url, w, start)) for w in range(WRITERS)]
        start.set()
        finished = sorted(result.get(timeout=240) for result in pending)
    assert finished == list(range(WRITERS))
    db = Database(url)
    rows = db.read(lambda s: s.scalar(select(func.count()).select_from(AuditLogRow)))
    paths = db.read(lambda s: set(s.scalars(select(AuditLogRow.path))))
    projects = db.read(lambda s: s.scalar(select(func.count()).select_from(ProjectRow)))
    db.dispose()
    assert rows == WRITERS * ROWS_PER_WRITER
    assert len(paths) == WRITERS * ROWS_PER_WRITER
    assert projects == 1 + WRITERS * len(range(0, ROWS_PER_WRITER, 25))


def test_eight_processes_writing_to_sqlite_lose_no_rows(sqlite_url: str) -> None:
    _hammer(sqlite_url)


@pytest.mark.postgres
def test_eight_processes_writing_to_postgres_lose_no_rows(postgres_url: str) -> None:
    _hammer(postgres_url)
