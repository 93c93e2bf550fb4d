"""Rules for the names of projects and users."""

from __future__ import annotations

import re

from kiln.errors import InvalidInput

_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,127}")


def check_project_name(name: str, *, field: str = "name") -> str:
    """``name`` if it is a valid project name, else ``InvalidInput`` saying what is allowed."""
    if not isinstance(name, str) or not _PROJECT_NAME.fullmatch(name):
        raise InvalidInput(
            f"project name {name!r} is not valid: use 1-64 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit",
            field=field,
        )
    return name


def check_user_name(name: str, *, field: str = "name") -> str:
    """``name`` if it is a valid user name, else ``InvalidInput`` saying what is allowed."""
    if not isinstance(name, str) or not _USER_NAME.fullmatch(name):
        raise InvalidInput(
            f"user name {name!r} is not valid: use 1-128 letters, digits, '.', '_', '-', "
            "'+' or '@', starting with a letter or digit",
            field=field,
        )
    return name


def check_email(email: str, *, field: str = "email") -> str:
    """``email`` if it looks like an e-mail address of at most 256 characters."""
    local, at, domain = email.partition("@")
    if not (at and local and domain) or len(email) > 256 or any(c.isspace() for c in email):
        raise InvalidInput(f"email {email!r} is not an e-mail address", field=field)
    return email


def check_label(text: str, *, field: str, limit: int = 128) -> str:
    """A free-text label (token name) of at most ``limit`` characters."""
    if len(text) > limit:
        raise InvalidInput(
            f"{field} is {len(text)} characters long; the limit is {limit}", field=field
        )
    return text
