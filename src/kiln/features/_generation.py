"""How a reader knows, cheaply, whether the applied definitions changed since it last looked.

Every online read must see the latest ``kiln features apply`` (a registry
cache that goes stale after apply is a classic feature-store bug), yet the
read's budget is a tenth of a millisecond. So each read asks one indexed
question — the newest definition row id of the project, which grows with
every apply that changes anything — and rebuilds its definitions only when
the answer moved. On SQLite the question goes through a stdlib connection
per thread (about 5 µs); elsewhere through the pooled engine.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.db import Database

__all__ = ["GenerationProbe"]

_QUERY = (
    "SELECT coalesce(max(d.id), 0) FROM feature_definitions d "
    "JOIN projects p ON p.id = d.project_id WHERE p.name = ?"
)


class GenerationProbe:
    """Reads a project's definitions generation (``_registry.definitions_generation``)."""

    def __init__(self, db: Database, project: str) -> None:
        self._db = db
        self._project = project
        self._local = threading.local()
        self._path: str | None = None
        if db.dialect == "sqlite":
            from kiln.db._engine import normalize_url

            database = normalize_url(db.url).database
            if database and database != ":memory:":
                self._path = database

    def __call__(self) -> int:
        if self._path is None:
            from kiln.features._registry import definitions_generation

            return self._db.read(definitions_generation, self._project)
        connection = getattr(self._local, "connection", None)
        if connection is None or self._local.pid != os.getpid():
            self._db.engine  # noqa: B018 - migrates a new store before the raw read
            connection = sqlite3.connect(
                f"file:{self._path}?mode=ro", uri=True, check_same_thread=False
            )
            self._local.connection, self._local.pid = connection, os.getpid()
        row = connection.execute(_QUERY, (self._project,)).fetchone()
        return int(row[0]) if row else 0
