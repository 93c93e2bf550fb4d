"""Users and their roles in projects."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth._models import Member, User
from kiln.auth._names import check_email, check_user_name
from kiln.auth._projects import project_row
from kiln.auth._roles import Role
from kiln.db.tables import MembershipRow, ProjectRow, UserRow
from kiln.errors import AlreadyExists, NotFound


def _user(row: UserRow) -> User:
    return User(
        name=row.name,
        email=row.email,
        is_admin=row.is_admin,
        disabled=row.disabled,
        created_at=row.created_at,
    )


def user_row(session: Session, name: str) -> UserRow:
    """The row of user ``name``, or ``NotFound``."""
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise NotFound(f"user {name!r} does not exist: create it with `kiln users create`")
    return row


def create_user(
    session: Session, name: str, *, email: str | None = None, is_admin: bool = False
) -> User:
    """Create user ``name``; ``AlreadyExists`` if the name is taken."""
    check_user_name(name)
    if email is not None:
        check_email(email)
    row = UserRow(name=name, email=email, is_admin=is_admin, disabled=False)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"user {name!r} already exists", field="name") from None
    return _user(row)


def get_user(session: Session, name: str) -> User:
    return _user(user_row(session, name))


def list_users(session: Session) -> list[User]:
    return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]


def update_user(
    session: Session,
    name: str,
    *,
    email: str | None = None,
    is_admin: bool | None = None,
    disabled: bool | None = None,
) -> User:
    """Change a user's e-mail, admin flag or disabled flag (a disabled user's tokens fail)."""
    row = user_row(session, name)
    if email is not None:
        row.email = check_email(email)
    if is_admin is not None:
        row.is_admin = is_admin
    if disabled is not None:
        row.disabled = disabled
    session.flush()
    return _user(row)


def _member(project: str, user: str, row: MembershipRow) -> Member:
    return Member(project=project, user=user, role=Role(row.role), created_at=row.created_at)


def set_member(session: Session, project: str, user: str, role: Role | str) -> Member:
    """Give ``user`` the role ``role`` in ``project`` (adding or changing it)."""
    role = Role.parse(role)
    project_id = project_row(session, project).id
    user_id = user_row(session, user).id
    row = session.get(MembershipRow, (project_id, user_id))
    if row is None:
        row = MembershipRow(project_id=project_id, user_id=user_id, role=role.value)
        session.add(row)
    else:
        row.role = role.value
    session.flush()
    return _member(project, user, row)


def remove_member(session: Session, project: str, user: str) -> None:
    project_id = project_row(session, project).id
    user_id = user_row(session, user).id
    row = session.get(MembershipRow, (project_id, user_id))
    if row is None:
        raise NotFound(f"user {user!r} is not a member of project {project!r}")
    session.delete(row)
    session.flush()


def list_members(session: Session, project: str) -> list[Member]:
    project_id = project_row(session, project).id
    rows = session.execute(
        select(MembershipRow, UserRow.name)
        .join(UserRow, UserRow.id == MembershipRow.user_id)
        .where(MembershipRow.project_id == project_id)
        .order_by(UserRow.name)
    )
    return [_member(project, name, row) for row, name in rows]


def member_role(session: Session, project: str, user: str) -> Role | None:
    """``user``'s role in ``project``, or None when they are not a member."""
    role = session.scalar(
        select(MembershipRow.role)
        .join(ProjectRow, ProjectRow.id == MembershipRow.project_id)
        .join(UserRow, UserRow.id == MembershipRow.user_id)
        .where(ProjectRow.name == project, UserRow.name == user)
    )
    return Role(role) if role is not None else None
