"""The metadata store on SQLite and PostgreSQL: one test class, both dialects."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from kiln.db import Database, is_transient, retry_transient
from kiln.db._engine import normalize_url
from kiln.db.tables import AuditLogRow, ProjectRow
from kiln.errors import Conflict, InvalidInput

NEXT_MIGRATION = """
import sqlalchemy as sa
from alembic import op

revision = "next"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("next_release_note", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("next_release_note")
"""


@pytest.fixture
def next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Kiln's migrations plus one the next release would ship; returns today's head."""
    import shutil

    from kiln.db import _migrate

    migrations = tmp_path / "migrations"
    shutil.copytree(_migrate._MIGRATIONS, migrations)
    head = _migrate.head_revision()
    (migrations / "versions" / "9999_next_release.py").write_text(
        NEXT_MIGRATION.replace("{head}", head)
    )
    monkeypatch.setattr(_migrate, "_MIGRATIONS", migrations)
    monkeypatch.setattr(_migrate, "HEAD", "next")
    return head


EXPECTED_TABLES = {
    "projects",
    "users",
    "memberships",
    "api_tokens",
    "audit_log",
    "experiments",
    "runs",
    "metrics",
}


class TestStore:
    """Every metadata store backend passes this class (parametrized by ``database_url``)."""

    def test_empty_database_is_migrated_on_first_use(self, db: Database) -> None:
        assert db.revision()[0] is None
        names = db.read(lambda s: s.scalars(select(ProjectRow.name)).all())
        assert names == ["default"]
        current, head = db.revision()
        assert current == head
        assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES

    def test_run_commits_and_rolls_back(self, db: Database) -> None:
        db.run(lambda s: s.add(ProjectRow(name="kept", description="")))

        def fails(session: object) -> None:
            session.add(ProjectRow(name="lost", description=""))  # type: ignore[attr-defined]
            session.flush()  # type: ignore[attr-defined]
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            db.run(fails)
        names = db.read(lambda s: set(s.scalars(select(ProjectRow.name))))
        assert names == {"default", "kept"}

    def test_constraint_violation_is_not_retried(self, db: Database) -> None:
        calls = []

        def duplicate(session: object) -> None:
            calls.append(1)
            session.add(ProjectRow(name="default", description=""))  # type: ignore[attr-defined]
            session.flush()  # type: ignore[attr-defined]

        with pytest.raises(IntegrityError):
            db.run(duplicate)
        assert len(calls) == 1

    def test_datetimes_come_back_aware_in_utc(self, db: Database) -> None:
        plus_two = timezone(timedelta(hours=2))
        moment = datetime(2026, 5, 1, 12, 0, tzinfo=plus_two)
        db.run(lambda s: s.add(ProjectRow(name="tz", description="", created_at=moment)))
        stored = db.read(
            lambda s: s.scalar(select(ProjectRow.created_at).where(ProjectRow.name == "tz"))
        )
        assert stored == moment
        assert stored.tzinfo is not None
        assert stored.utcoffset() == timedelta(0)

    def test_naive_datetimes_are_refused(self, db: Database) -> None:
        naive = datetime(2026, 5, 1, 12, 0)
        with pytest.raises(Exception, match="naive datetime"):
            db.run(lambda s: s.add(ProjectRow(name="naive", description="", created_at=naive)))

    def test_audit_log_is_append_only_in_the_database(self, db: Database) -> None:
        db.run(
            lambda s: s.add(
                AuditLogRow(
                    action="x", method="POST", path="/api/v1/x", status_code=200, outcome="ok"
                )
            )
        )
        with pytest.raises(DBAPIError, match="append-only"):
            db.run(lambda s: s.execute(text("UPDATE audit_log SET outcome = 'forged'")))
        with pytest.raises(DBAPIError, match="append-only"):
            db.run(lambda s: s.execute(text("DELETE FROM audit_log")))
        assert db.read(lambda s: s.scalar(select(AuditLogRow.outcome))) == "ok"

    def test_head_names_the_newest_migration(self) -> None:
        from kiln.db import _migrate

        assert _migrate.head_revision() == _migrate.HEAD

    def test_opening_a_store_at_head_imports_no_alembic(self, database_url: str) -> None:
        migrated = Database(database_url)
        migrated.upgrade()
        migrated.dispose()
        code = (
            "import sys\n"
            "from sqlalchemy import text\n"
            "from kiln.db import Database\n"
            f"db = Database({database_url!r})\n"
            "assert db.read(lambda s: s.scalar(text('SELECT 1'))) == 1\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
        )
        assert done.stdout.strip() == "[]"

    def test_migrations_match_the_tables(self, db: Database) -> None:
        """The ORM tables and the migrations describe the same schema."""
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from kiln.db import Base

        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert diff == []

    def test_outdated_schema_asks_for_upgrade_then_upgrades(
        self, database_url: str, next_release: str
    ) -> None:
        """A store one migration behind (the next release adds one) is refused until upgraded."""
        from kiln.db import _migrate

        released = next_release
        old = Database(database_url)
        assert old.upgrade(released) == released
        old.dispose()
        behind = Database(database_url)
        with pytest.raises(Conflict, match="kiln db upgrade"):
            behind.read(lambda s: s.execute(text("SELECT 1")))
        assert behind.upgrade() == _migrate.head_revision() == "next"
        columns = {c["name"] for c in inspect(behind.engine).get_columns("projects")}
        assert "next_release_note" in columns
        behind.dispose()

    def test_store_migrated_by_a_newer_kiln_is_refused(self, database_url: str) -> None:
        first = Database(database_url)
        first.upgrade()
        first.dispose()
        raw = create_engine(normalize_url(database_url))
        with raw.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        raw.dispose()
        newer = Database(database_url)
        with pytest.raises(Conflict, match="newer Kiln"):
            newer.read(lambda s: s.execute(text("SELECT 1")))
        with pytest.raises(Conflict, match="newer Kiln"):
            newer.upgrade()
        newer.dispose()

    def test_upgrade_is_idempotent(self, db: Database) -> None:
        assert db.upgrade() == db.upgrade() == db.revision()[1]

    def test_ping(self, db: Database) -> None:
        db.ping()


def test_unsupported_and_malformed_urls_are_refused() -> None:
    with pytest.raises(InvalidInput, match="sqlite:// and postgresql://"):
        Database("mysql://root@localhost/kiln").ping()
    with pytest.raises(InvalidInput, match="not a valid SQLAlchemy URL"):
        Database("not a url").ping()


def test_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"


def test_password_is_hidden_in_repr() -> None:
    assert "secret" not in repr(Database("postgresql://kiln:secret@db.example.com/kiln"))


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_retry_replays_transient_errors_only() -> None:
    attempts = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        return "done"

    assert retry_transient(flaky, base_delay=0.001) == "done"
    assert len(attempts) == 3
    assert is_transient(OperationalError("x", {}, Exception("database is locked")))
    assert not is_transient(OperationalError("x", {}, Exception("no such table: x")))
    assert not is_transient(ValueError("database is locked"))


def _open_and_count(url: str) -> int:
    db = Database(url)
    try:
        return int(db.read(lambda s: s.scalar(text("SELECT count(*) FROM projects"))))
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_many_processes_opening_a_new_store_migrate_it_once(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = request.getfixturevalue("sqlite_url" if dialect == "sqlite" else "postgres_url")
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        counts = pool.map(_open_and_count, [url] * 6)
    assert counts == [1] * 6  # one default project: migrated (and seeded) exactly once
    db = Database(url)
    assert db.revision()[0] == db.revision()[1]
    db.dispose()
