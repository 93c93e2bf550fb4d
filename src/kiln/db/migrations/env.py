"""Alembic environment: runs on the connection Kiln hands over (see kiln.db._migrate)."""

from __future__ import annotations

from alembic import context

import kiln.db.tables  # noqa: F401  (registers every table on Base.metadata)
from kiln.db._base import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run Kiln migrations with `kiln db upgrade`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
