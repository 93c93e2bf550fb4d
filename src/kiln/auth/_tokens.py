"""API tokens: random secrets, kept only as SHA-256, scoped to a project and a role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from kiln.auth._models import ApiToken, NewToken, Principal
from kiln.auth._names import check_label
from kiln.auth._projects import project_row
from kiln.auth._roles import Role, lower
from kiln.auth._users import member_role, user_row
from kiln.db import utcnow
from kiln.db.tables import ApiTokenRow, ProjectRow, UserRow
from kiln.errors import Conflict, InvalidInput, NotFound, PermissionDenied, Unauthenticated

TOKEN_PREFIX = "kiln_"
#: How stale ``last_used_at`` may get before a request refreshes it (saves a write per call).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row: ApiTokenRow, user: str, project: str) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        user=user,
        project=project,
        role=Role(row.role),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_token(
    session: Session,
    user: str,
    project: str,
    role: Role | str | None = None,
    *,
    name: str = "",
    expires_at: datetime | None = None,
) -> NewToken:
    """Issue a token for ``user`` in ``project``.

    ``role`` defaults to, and may not exceed, the user's role in the project;
    admins may hold any role. The secret is returned once and never stored.
    """
    check_label(name, field="name")
    user_rec = user_row(session, user)
    project_rec = project_row(session, project)
    if user_rec.disabled:
        raise Conflict(f"user {user!r} is disabled: enable it before issuing tokens")
    ceiling = Role.ADMIN if user_rec.is_admin else member_role(session, project, user)
    if ceiling is None:
        raise InvalidInput(
            f"user {user!r} is not a member of project {project!r}: "
            f"add them with `kiln projects add-member {project} {user} --role viewer`",
            field="user",
        )
    granted = ceiling if role is None else Role.parse(role)
    if not ceiling.allows(granted):
        raise PermissionDenied(
            f"user {user!r} is {ceiling.value} in project {project!r} "
            f"and cannot hold a {granted.value} token"
        )
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput(f"expiry {expires_at.isoformat()} is in the past", field="expires_at")
    token_id = secrets.token_hex(6)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    row = ApiTokenRow(
        id=token_id,
        secret_hash=hash_secret(secret),
        name=name,
        user_id=user_rec.id,
        project_id=project_rec.id,
        role=granted.value,
        expires_at=expires_at,
    )
    session.add(row)
    session.flush()
    return NewToken(token=_token(row, user, project), secret=secret)


def authenticate(session: Session, secret: str) -> Principal:
    """The caller a presented token stands for, or ``Unauthenticated`` saying why not.

    The token's role is capped by the user's current role in the project, so
    demoting or removing a member takes effect on their existing tokens.
    """
    if not secret.startswith(TOKEN_PREFIX):
        raise Unauthenticated("the bearer token is not a Kiln API token (they start with kiln_)")
    found = session.execute(
        select(ApiTokenRow, UserRow, ProjectRow.name)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .join(ProjectRow, ProjectRow.id == ApiTokenRow.project_id)
        .where(ApiTokenRow.secret_hash == hash_secret(secret))
    ).first()
    if found is None:
        raise Unauthenticated("the API token is not valid: create one with `kiln tokens create`")
    row, user, project = found
    if row.revoked_at is not None:
        raise Unauthenticated(f"API token {row.id} was revoked: create a new one")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise Unauthenticated(f"API token {row.id} expired at {row.expires_at.isoformat()}")
    if user.disabled:
        raise Unauthenticated(f"user {user.name!r} is disabled")
    role = Role(row.role)
    if not user.is_admin:
        membership = member_role(session, project, user.name)
        if membership is None:
            raise PermissionDenied(f"user {user.name!r} is no longer a member of {project!r}")
        role = lower(role, membership)
    return Principal(
        user=user.name, is_admin=user.is_admin, project=project, role=role, token_id=row.id
    )


def record_token_use(session: Session, token_id: str) -> None:
    """Refresh ``last_used_at``, at most once per ``LAST_USED_RESOLUTION``."""
    now = utcnow()
    session.execute(
        update(ApiTokenRow)
        .where(
            ApiTokenRow.id == token_id,
            or_(
                ApiTokenRow.last_used_at.is_(None),
                ApiTokenRow.last_used_at < now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
    )


def get_token(session: Session, token_id: str) -> ApiToken:
    found = session.execute(
        select(ApiTokenRow, UserRow.name, ProjectRow.name)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .join(ProjectRow, ProjectRow.id == ApiTokenRow.project_id)
        .where(ApiTokenRow.id == token_id)
    ).first()
    if found is None:
        raise NotFound(f"API token {token_id!r} does not exist")
    row, user, project = found
    return _token(row, user, project)


def list_tokens(
    session: Session,
    *,
    user: str | None = None,
    project: str | None = None,
    include_revoked: bool = False,
) -> list[ApiToken]:
    """Tokens, newest first, filtered by user and/or project."""
    query = (
        select(ApiTokenRow, UserRow.name, ProjectRow.name)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .join(ProjectRow, ProjectRow.id == ApiTokenRow.project_id)
        .order_by(ApiTokenRow.created_at.desc(), ApiTokenRow.id)
    )
    if user is not None:
        query = query.where(UserRow.name == user)
    if project is not None:
        query = query.where(ProjectRow.name == project)
    if not include_revoked:
        query = query.where(ApiTokenRow.revoked_at.is_(None))
    return [_token(row, u, p) for row, u, p in session.execute(query)]


def revoke_token(session: Session, token_id: str) -> ApiToken:
    """Revoke a token; it fails from the next request on. Revoking twice is harmless."""
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise NotFound(f"API token {token_id!r} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    session.flush()
    return get_token(session, token_id)
