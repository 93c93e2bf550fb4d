"""ORM tables, one module per domain.

Importing this package registers every table on ``Base.metadata`` (what
Alembic compares migrations against). Rows stay inside ``kiln.db`` and the
services that own them; callers get plain domain objects.
"""

from kiln.db.tables.auth import (
    ApiTokenRow,
    AuditLogRow,
    MembershipRow,
    ProjectRow,
    UserRow,
)

__all__ = ["ApiTokenRow", "AuditLogRow", "MembershipRow", "ProjectRow", "UserRow"]
