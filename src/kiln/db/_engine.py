"""Engines for the two supported dialects, tuned for many concurrent writers.

SQLite runs in WAL mode with a busy timeout, and every read-write transaction
starts with ``BEGIN IMMEDIATE``: a writer then waits for the lock up front
instead of failing with "database is locked" when it upgrades a read lock
mid-transaction. Read-only sessions start with a plain (deferred) ``BEGIN`` so
readers never queue behind writers. PostgreSQL goes through psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

from kiln.errors import InvalidInput

#: Milliseconds a SQLite connection waits for a lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Execution option that marks a connection's transactions as read-only.
READ_ONLY = "kiln_read_only"


def normalize_url(url: str) -> URL:
    """Parse ``url`` and pick Kiln's driver for its dialect (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with a terse text
        raise InvalidInput(
            f"database URL {url!r} is not a valid SQLAlchemy URL: use e.g. "
            "sqlite:////path/to/kiln.db or postgresql://user@host:5432/db",
            field="database_url",
        ) from exc
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InvalidInput(
            f"database URL {parsed.render_as_string(hide_password=True)!r} uses {backend!r}: "
            "Kiln supports sqlite:// and postgresql:// metadata stores",
            field="database_url",
        )
    return parsed


def create_kiln_engine(url: str, *, echo: bool = False) -> Engine:
    """An Engine for ``url`` with Kiln's connection settings applied."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo)
    return _postgres_engine(parsed, echo=echo)


def _sqlite_engine(url: URL, *, echo: bool) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to the "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(url: URL, *, echo: bool) -> Engine:
    try:
        import psycopg  # noqa: F401  (only checks that the driver is there)
    except ImportError as exc:
        raise InvalidInput(
            "a postgresql:// database URL needs the psycopg driver: "
            "pip install 'kiln-ml[postgres]'",
            field="database_url",
        ) from exc
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)
