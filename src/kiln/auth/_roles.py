"""Roles in a project, ordered: viewer < editor < admin."""

from __future__ import annotations

from enum import StrEnum

from kiln.errors import InvalidInput


class Role(StrEnum):
    """What a member may do in a project; each role includes the ones below it."""

    VIEWER = "viewer"  # read everything in the project
    EDITOR = "editor"  # also create and change records
    ADMIN = "admin"  # also manage members, tokens of others and the audit log

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        """Whether this role is at least ``needed``."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: str | Role, *, field: str = "role") -> Role:
        """``value`` as a Role, or ``InvalidInput`` naming the allowed values."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(role.value for role in cls)
            raise InvalidInput(
                f"{field} {value!r} is not a role: use one of {allowed}", field=field
            ) from None


_RANKS = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def lower(a: Role, b: Role) -> Role:
    """The less powerful of two roles."""
    return a if a.rank <= b.rank else b
