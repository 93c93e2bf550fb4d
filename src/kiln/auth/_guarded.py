"""Service calls that check the caller's permissions first.

The REST API and the CLI call these with the current ``Principal``; the
unguarded functions in the sibling modules stay available to trusted code
(migrations, the demo, bootstrapping the first admin).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from kiln.auth._access import may_manage_user, require_role, require_site_admin, role_in
from kiln.auth._models import ApiToken, NewToken, Principal, Project, User
from kiln.auth._projects import create_project, list_projects
from kiln.auth._roles import Role
from kiln.auth._tokens import create_token, get_token, list_tokens, revoke_token
from kiln.auth._users import get_user, set_member
from kiln.errors import NotFound, PermissionDenied


def visible_projects(session: Session, principal: Principal) -> list[Project]:
    """Projects the caller may see: all for administrators, else those they belong to."""
    if principal.is_admin:
        return list_projects(session)
    return list_projects(session, member=principal.user)


def create_project_as(
    session: Session, principal: Principal, name: str, description: str = ""
) -> Project:
    """Create a project (administrators only); its creator becomes its admin."""
    require_site_admin(principal, "create projects")
    project = create_project(session, name, description)
    if principal.token_id is not None:
        set_member(session, name, principal.user, Role.ADMIN)
    return project


def user_as(session: Session, principal: Principal, name: str) -> User:
    """User ``name``, visible to administrators and to the user themself."""
    if not may_manage_user(principal, name):
        raise PermissionDenied(f"only administrators and {name!r} may see user {name!r}")
    return get_user(session, name)


def issue_token(
    session: Session,
    principal: Principal,
    *,
    user: str | None = None,
    project: str | None = None,
    role: Role | str | None = None,
    name: str = "",
    expires_at: datetime | None = None,
) -> NewToken:
    """Issue a token; for someone else, or above one's own role, only as an admin.

    A token never reaches beyond the project its caller's token is scoped to.
    """
    user = user or principal.user
    project = project or principal.project
    if user != principal.user:
        require_role(principal, project, Role.ADMIN)
    else:
        held = role_in(principal, project)
        if held is None:
            require_role(principal, project, Role.VIEWER)  # raises with the reason
        elif role is not None and not held.allows(Role.parse(role)):
            raise PermissionDenied(
                f"{principal.user!r} is {held.value} in project {project!r} "
                f"and cannot issue a {Role.parse(role).value} token"
            )
        elif role is None:
            role = held
    return create_token(session, user, project, role, name=name, expires_at=expires_at)


def visible_tokens(
    session: Session,
    principal: Principal,
    *,
    project: str | None = None,
    user: str | None = None,
    include_revoked: bool = False,
) -> list[ApiToken]:
    """The caller's own tokens; a project's admin may list everyone's in that project."""
    if user != principal.user:
        if project is None:
            require_site_admin(principal, "list tokens across projects")
        else:
            require_role(principal, project, Role.ADMIN)
    return list_tokens(session, user=user, project=project, include_revoked=include_revoked)


def token_as(session: Session, principal: Principal, token_id: str) -> ApiToken:
    """A token, visible to its owner and to its project's admins."""
    token = get_token(session, token_id)
    if token.user != principal.user:
        held = role_in(principal, token.project)
        if not principal.is_admin and (held is None or not held.allows(Role.ADMIN)):
            # Do not reveal that someone else's token exists.
            raise NotFound(f"API token {token_id!r} does not exist")
    return token


def revoke_token_as(session: Session, principal: Principal, token_id: str) -> ApiToken:
    """Revoke a token: one's own, or any in a project one administers."""
    token_as(session, principal, token_id)
    return revoke_token(session, token_id)
