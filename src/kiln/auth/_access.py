"""Who may do what: the checks every API route and CLI command share."""

from __future__ import annotations

from kiln.auth._models import LOCAL_USER, Principal
from kiln.auth._roles import Role
from kiln.errors import PermissionDenied


def local_principal(project: str) -> Principal:
    """The caller when authentication is off: the single local user, admin everywhere."""
    return Principal(user=LOCAL_USER, is_admin=True, project=project, role=Role.ADMIN)


def role_in(principal: Principal, project: str) -> Role | None:
    """The caller's role in ``project``; a token only acts in the project it is scoped to."""
    if not principal.scoped:
        return principal.role
    return principal.role if principal.project == project else None


def require_role(principal: Principal, project: str, needed: Role) -> None:
    """``PermissionDenied`` unless the caller holds at least ``needed`` in ``project``."""
    held = role_in(principal, project)
    if held is None:
        raise PermissionDenied(
            f"{principal.user!r} has no access to project {project!r}"
            + (f" (this token is scoped to {principal.project!r})" if principal.scoped else "")
        )
    if not held.allows(needed):
        raise PermissionDenied(
            f"{principal.user!r} is {held.value} in project {project!r}; this needs {needed.value}"
        )


def require_site_admin(principal: Principal, doing: str) -> None:
    """``PermissionDenied`` unless the caller is a Kiln administrator."""
    if not principal.is_admin:
        raise PermissionDenied(f"only Kiln administrators may {doing}")


def may_manage_user(principal: Principal, user: str) -> bool:
    """Whether the caller may see or change ``user``'s account and tokens."""
    return principal.is_admin or principal.user == user
