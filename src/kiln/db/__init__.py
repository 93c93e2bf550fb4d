"""The metadata store: one SQL database for every domain.

- ``Database`` opens an engine for a URL (SQLite with WAL by default,
  PostgreSQL through psycopg 3 in production), hands out sessions and runs
  units of work with retries on transient errors (``Database.run``).
- ``kiln.db.tables`` holds the ORM tables, one module per domain. Rows never
  leave the services that own them; callers get plain domain objects.
- ``kiln/db/migrations`` holds the Alembic migrations, applied by
  ``kiln db upgrade`` and automatically to an empty database on first use.
"""

from kiln.db._base import Base, utcnow
from kiln.db._database import Database
from kiln.db._retry import is_transient, retry_transient

__all__ = ["Base", "Database", "is_transient", "retry_transient", "utcnow"]
