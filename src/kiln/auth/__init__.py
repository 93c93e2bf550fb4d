"""Projects, users, roles, API tokens and the audit log.

- A **project** is the namespace every record belongs to (``default`` unless named).
- A **user** holds a **role** per project: viewer < editor < admin
  (``kiln.auth.Role``). Users flagged ``is_admin`` administer Kiln itself:
  they create projects and users.
- An **API token** belongs to a user, is scoped to one project with a role no
  higher than the user's, may expire, and can be revoked. Only its SHA-256 is
  stored. ``authenticate`` turns a presented token into a ``Principal``.
- The **audit log** records every mutating API call; the database refuses to
  update or delete its rows.

Every function here takes a SQLAlchemy session first and is called through
``Database.run`` (writes) or ``Database.read`` (queries); the REST API, the
CLI and the SDK are thin adapters over them.
"""

from kiln.auth._access import (
    local_principal,
    may_manage_user,
    require_role,
    require_site_admin,
    role_in,
)
from kiln.auth._audit import MAX_AUDIT_PAGE, AuditRecord, list_entries, record
from kiln.auth._guarded import (
    create_project_as,
    issue_token,
    revoke_token_as,
    token_as,
    user_as,
    visible_projects,
    visible_tokens,
)
from kiln.auth._models import (
    LOCAL_USER,
    ApiToken,
    AuditEntry,
    Member,
    NewToken,
    Principal,
    Project,
    User,
)
from kiln.auth._projects import (
    DEFAULT_PROJECT,
    create_project,
    delete_project,
    ensure_project,
    get_project,
    list_projects,
    project_id,
    update_project,
)
from kiln.auth._roles import Role
from kiln.auth._tokens import (
    authenticate,
    create_token,
    get_token,
    list_tokens,
    record_token_use,
    revoke_token,
)
from kiln.auth._users import (
    create_user,
    get_user,
    list_members,
    list_users,
    member_role,
    remove_member,
    set_member,
    update_user,
)

__all__ = [
    "DEFAULT_PROJECT",
    "LOCAL_USER",
    "MAX_AUDIT_PAGE",
    "ApiToken",
    "AuditEntry",
    "AuditRecord",
    "Member",
    "NewToken",
    "Principal",
    "Project",
    "Role",
    "User",
    "authenticate",
    "create_project",
    "create_project_as",
    "create_token",
    "create_user",
    "delete_project",
    "ensure_project",
    "get_project",
    "get_token",
    "get_user",
    "issue_token",
    "list_entries",
    "list_members",
    "list_projects",
    "list_tokens",
    "list_users",
    "local_principal",
    "may_manage_user",
    "member_role",
    "project_id",
    "record",
    "record_token_use",
    "remove_member",
    "require_role",
    "require_site_admin",
    "revoke_token",
    "revoke_token_as",
    "role_in",
    "set_member",
    "token_as",
    "update_project",
    "update_user",
    "user_as",
    "visible_projects",
    "visible_tokens",
]
