"""Schema migrations with Alembic, run on a locked connection.

Migrating takes the database's write lock first (``BEGIN IMMEDIATE`` on
SQLite, a transaction-level advisory lock on PostgreSQL), then reads the
current revision and applies what is missing in the same transaction. Many
processes opening a new database at once therefore migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from kiln.errors import Conflict

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Arbitrary constant naming Kiln's migration lock among PostgreSQL advisory locks.
_PG_LOCK_KEY = 7_104_231_901


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of Kiln knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "Kiln ships at least one migration"
    return head


def is_known(revision: str) -> bool:
    """Whether this version of Kiln ships ``revision`` (False: a newer Kiln migrated the store)."""
    from alembic.util.exc import CommandError

    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:
        return False


def unknown_revision_error(revision: str) -> Conflict:
    return Conflict(
        f"the metadata store is at schema revision {revision}, which this Kiln does not know: "
        "a newer Kiln has migrated it; install that version (pip install -U kiln-ml)"
    )


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it has never been migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    # SQLite: the transaction began with BEGIN IMMEDIATE, which holds the write lock.


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the schema to ``revision`` and return the revision reached."""
    with engine.connect() as connection, connection.begin():
        _lock(connection)
        current = current_revision(connection)
        if current is not None and not is_known(current):
            raise unknown_revision_error(current)
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        reached = current_revision(connection)
    assert reached is not None
    return reached


def upgrade_if_empty(engine: Engine) -> str | None:
    """Migrate a database that has never been migrated; return its revision."""
    with engine.connect() as connection, connection.begin():
        _lock(connection)
        revision = current_revision(connection)
        if revision is None:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            revision = current_revision(connection)
    return revision
