"""Plain domain objects handed out by the auth services (never ORM rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kiln.auth._roles import Role


@dataclass(frozen=True, slots=True)
class Project:
    """The namespace every record of Kiln belongs to."""

    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class User:
    """A person or service account. ``is_admin`` may create projects and users."""

    name: str
    email: str | None
    is_admin: bool
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    """A user's role in a project."""

    project: str
    user: str
    role: Role
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    """What is known of a token after it was created: never its secret."""

    id: str
    name: str
    user: str
    project: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created; ``secret`` is shown this once and never stored."""

    token: ApiToken
    secret: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and with which role in which project.

    With authentication off, the caller is the local single user, an admin
    everywhere (``token_id`` is None).
    """

    user: str
    is_admin: bool
    project: str
    role: Role
    token_id: str | None = None

    @property
    def scoped(self) -> bool:
        """Whether this caller is bound to ``project`` (by an API token)."""
        return self.token_id is not None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded mutating API call."""

    id: int
    at: datetime
    actor: str | None
    token_id: str | None
    project: str | None
    action: str
    method: str
    path: str
    target: str | None
    status_code: int
    outcome: str
    request_id: str | None
    client: str | None


#: The user name of the caller when authentication is off.
LOCAL_USER = "local"
