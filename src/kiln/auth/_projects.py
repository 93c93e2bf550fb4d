"""Projects: create, read, update, delete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth._models import Project
from kiln.auth._names import check_project_name
from kiln.db.tables import MembershipRow, ProjectRow, UserRow
from kiln.errors import AlreadyExists, Conflict, NotFound

#: The project records go to when none is named.
DEFAULT_PROJECT = "default"


def _project(row: ProjectRow) -> Project:
    return Project(name=row.name, description=row.description, created_at=row.created_at)


def project_row(session: Session, name: str) -> ProjectRow:
    """The row of project ``name``, or ``NotFound``."""
    row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
    if row is None:
        raise NotFound(f"project {name!r} does not exist: create it with `kiln projects create`")
    return row


def project_id(session: Session, name: str) -> int:
    """The id of project ``name`` (for other domains' foreign keys), or ``NotFound``."""
    return project_row(session, name).id


def create_project(session: Session, name: str, description: str = "") -> Project:
    """Create project ``name``; ``AlreadyExists`` if the name is taken."""
    check_project_name(name)
    row = ProjectRow(name=name, description=description)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(f"project {name!r} already exists", field="name") from None
    return _project(row)


def ensure_project(session: Session, name: str, description: str = "") -> Project:
    """Project ``name``, created if it does not exist yet."""
    row = session.scalar(select(ProjectRow).where(ProjectRow.name == name))
    if row is not None:
        return _project(row)
    return create_project(session, name, description)


def get_project(session: Session, name: str) -> Project:
    return _project(project_row(session, name))


def list_projects(session: Session, *, member: str | None = None) -> list[Project]:
    """All projects, or only those where user ``member`` has a role."""
    query = select(ProjectRow).order_by(ProjectRow.name)
    if member is not None:
        query = (
            query.join(MembershipRow, MembershipRow.project_id == ProjectRow.id)
            .join(UserRow, UserRow.id == MembershipRow.user_id)
            .where(UserRow.name == member)
        )
    return [_project(row) for row in session.scalars(query)]


def update_project(session: Session, name: str, *, description: str | None = None) -> Project:
    row = project_row(session, name)
    if description is not None:
        row.description = description
    session.flush()
    return _project(row)


def delete_project(session: Session, name: str) -> None:
    """Delete project ``name`` with its memberships and tokens (never ``default``)."""
    if name == DEFAULT_PROJECT:
        raise Conflict(f"project {DEFAULT_PROJECT!r} cannot be deleted")
    session.delete(project_row(session, name))
    session.flush()
