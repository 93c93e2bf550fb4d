"""``Database``: the metadata store's engine, sessions and units of work."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from kiln.db import _migrate
from kiln.db._engine import READ_ONLY, create_kiln_engine, normalize_url
from kiln.db._retry import retry_transient
from kiln.errors import Conflict

P = ParamSpec("P")
T = TypeVar("T")


class Database:
    """One metadata store, SQLite or PostgreSQL, opened on first use.

    ``run(fn, ...)`` is how services are called: it opens a session, calls
    ``fn(session, ...)``, commits, and replays the whole unit of work when the
    database reports a transient lock, deadlock or serialization failure.
    A database that has never been migrated is migrated on first use; one
    behind this version of Kiln raises ``Conflict`` asking for
    ``kiln db upgrade``.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self._echo = echo
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._read_sessions: sessionmaker[Session] | None = None
        self._schema_checked = False
        self._lock = threading.Lock()

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return normalize_url(self.url).get_backend_name()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine; the schema is checked (and created if empty) on first use."""
        engine = self._raw_engine()
        if not self._schema_checked:
            with self._lock:
                if not self._schema_checked:
                    self._check_schema(engine)
                    self._schema_checked = True
        return engine

    def _raw_engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = create_kiln_engine(self.url, echo=self._echo)
        return self._engine

    def _check_schema(self, engine: Engine) -> None:
        with engine.connect() as connection:  # the usual case: at head, one read, no Alembic
            if _migrate.current_revision(connection) == _migrate.HEAD:
                return
        revision = _migrate.upgrade_if_empty(engine)
        head = _migrate.head_revision()
        if revision is not None and not _migrate.is_known(revision):
            raise _migrate.unknown_revision_error(revision)
        if revision != head:
            raise Conflict(
                f"the metadata store at {engine.url.render_as_string(hide_password=True)} is at "
                f"schema revision {revision}, this Kiln needs {head}: run `kiln db upgrade`"
            )

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session that commits when the block succeeds and rolls back when it raises."""
        factory = self._factory(read_only)
        with factory() as session:
            try:
                yield session
                if read_only:
                    session.rollback()
                else:
                    session.commit()
            except BaseException:
                session.rollback()
                raise

    def run(
        self,
        fn: Callable[Concatenate[Session, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Call ``fn(session, *args, **kwargs)`` in one transaction, retrying transient errors."""

        def attempt() -> T:
            with self.session() as session:
                return fn(session, *args, **kwargs)

        return retry_transient(attempt)

    def read(
        self,
        fn: Callable[Concatenate[Session, P], T],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Like ``run`` for queries: a read-only transaction that never takes the write lock."""

        def attempt() -> T:
            with self.session(read_only=True) as session:
                return fn(session, *args, **kwargs)

        return retry_transient(attempt)

    def _factory(self, read_only: bool) -> sessionmaker[Session]:
        engine = self.engine
        if self._sessions is None or self._read_sessions is None:
            self._sessions = sessionmaker(engine, expire_on_commit=False)
            self._read_sessions = sessionmaker(
                engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False
            )
        return self._read_sessions if read_only else self._sessions

    def upgrade(self, revision: str = "head") -> str:
        """Apply pending migrations (``kiln db upgrade``); returns the revision reached."""
        reached = _migrate.upgrade(self._raw_engine(), revision)
        self._schema_checked = reached == _migrate.HEAD
        return reached

    def revision(self) -> tuple[str | None, str]:
        """``(current, head)`` schema revisions, without migrating anything."""
        with self._raw_engine().connect() as connection:
            current = _migrate.current_revision(connection)
        return current, _migrate.HEAD

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self._raw_engine().connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection (on shutdown, or after a fork)."""
        if self._engine is not None:
            self._engine.dispose()

    def __repr__(self) -> str:
        return f"Database({normalize_url(self.url).render_as_string(hide_password=True)!r})"
