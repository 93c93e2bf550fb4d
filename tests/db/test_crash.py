"""A writer killed in the middle of a transaction leaves the store consistent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import func, select, text

from kiln.db import Database
from kiln.db.tables import AuditLogRow

WRITER = textwrap.dedent(
    """
    import sys, time
    from kiln.db import Database
    from kiln.db.tables import AuditLogRow

    def write_then_hang(session):
        for n in range(5000):
            session.add(AuditLogRow(action="half", method="POST", path=f"/{n}",
                                    status_code=200, outcome="ok"))
        session.flush()
        print("flushed", flush=True)
        time.sleep(60)  # killed here, before the commit

    Database(sys.argv[1]).run(write_then_hang)
    """
)


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_killed_writer_leaves_no_partial_transaction(
    dialect: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "postgres_url")
    setup = Database(url)
    setup.run(
        lambda s: s.add(
            AuditLogRow(action="before", method="POST", path="/", status_code=200, outcome="ok")
        )
    )
    setup.dispose()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "flushed"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=30)
        if writer.stdout is not None:
            writer.stdout.close()
    time.sleep(0.1)
    db = Database(url)
    try:
        actions = db.read(lambda s: s.scalars(select(AuditLogRow.action)).all())
        assert actions == ["before"]
        # The store still takes writes (no lock left behind by the dead writer).
        db.run(
            lambda s: s.add(
                AuditLogRow(action="after", method="POST", path="/", status_code=200, outcome="ok")
            )
        )
        assert db.read(lambda s: s.scalar(select(func.count()).select_from(AuditLogRow))) == 2
        if dialect == "sqlite":
            assert db.read(lambda s: s.execute(text("PRAGMA integrity_check")).scalar()) == "ok"
    finally:
        db.dispose()
