"""Schema migrations with Alembic, run on a locked connection.

Migrating takes the database's write lock first (``BEGIN IMMEDIATE`` on
SQLite, a transaction-level advisory lock on PostgreSQL), then reads the
current revision and applies what is missing in the same transaction. Many
processes opening a new database at once therefore migrate it exactly once.

Opening a store that is already at :data:`HEAD` reads one row and imports no
Alembic (which, with parsing the migration scripts, is a quarter of a CLI
command's start-up); anything else goes through Alembic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from kiln.errors import Conflict

if TYPE_CHECKING:
    from alembic.config import Config

#: The newest revision in ``migrations/versions``; a test checks it against Alembic's head.
HEAD = "0016"

_MIGRATIONS = Path(__file__).with_name("migrations")
#: Arbitrary constant naming Kiln's migration lock among PostgreSQL advisory locks.
_PG_LOCK_KEY = 7_104_231_901


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of Kiln knows, as Alembic reads the scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "Kiln ships at least one migration"
    return head


def is_known(revision: str) -> bool:
    """Whether this version of Kiln ships ``revision`` (False: a newer Kiln migrated the store)."""
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    if revision == HEAD:
        return True
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
    if not inspect(connection).has_table("alembic_version"):
        return None
    rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise Conflict(
            f"the metadata store has several schema revisions ({', '.join(rows)}); Kiln's "
            "migrations are linear, so this store was changed by hand"
        )
    return rows[0] if rows else None


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
        from alembic import command

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
            from alembic import command

            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            revision = current_revision(connection)
    return revision
