"""Kiln's exceptions: one small tree, each also a matching builtin.

::

    KilnError                      anything Kiln refuses or cannot do
    ├── NotFound          (LookupError)      the named thing does not exist
    ├── AlreadyExists     (ValueError)       a name or key is taken
    ├── InvalidInput      (ValueError)       a value is malformed or out of range
    ├── Conflict          (RuntimeError)     the request clashes with current state
    ├── PermissionDenied  (PermissionError)  the caller is known but not allowed
    └── Unauthenticated   (PermissionError)  the caller is not known (no or bad token)

Domain code raises these; ``kiln.server`` maps them to HTTP status codes and
``kiln.cli`` to exit codes, both from one table each. Messages name the thing,
the bad value and what to do about it. This module imports nothing else of
Kiln's and no third-party code, so every layer may use it.
"""

from __future__ import annotations

__all__ = [
    "AlreadyExists",
    "Conflict",
    "InvalidInput",
    "KilnError",
    "NotFound",
    "PermissionDenied",
    "Unauthenticated",
    "Unavailable",
    "error_class",
]


class KilnError(Exception):
    """Base of every error Kiln raises on purpose.

    ``error_code`` is the stable, machine-readable name that the REST API
    returns in its ``{"error_code": ..., "message": ...}`` body.
    """

    error_code: str = "INTERNAL_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        #: The input field at fault, when there is one (``"body.name"``).
        self.field = field

    def __str__(self) -> str:
        return self.message


class NotFound(KilnError, LookupError):
    """The named project, user, token, blob or record does not exist."""

    error_code = "NOT_FOUND"


class AlreadyExists(KilnError, ValueError):
    """A record with this name or key exists already."""

    error_code = "ALREADY_EXISTS"


class InvalidInput(KilnError, ValueError):
    """A value is malformed, out of range or unsafe (e.g. a path traversal)."""

    error_code = "INVALID_INPUT"


class Conflict(KilnError, RuntimeError):
    """The request is valid but clashes with the current state of the store."""

    error_code = "CONFLICT"


class PermissionDenied(KilnError, PermissionError):
    """The caller is authenticated but their role does not allow this."""

    error_code = "PERMISSION_DENIED"


class Unauthenticated(KilnError, PermissionError):
    """No credentials, or credentials that are unknown, expired or revoked."""

    error_code = "UNAUTHENTICATED"


class Unavailable(KilnError, ConnectionError):
    """A service Kiln relies on (Redis, a database, a server) cannot be reached; retry later."""

    error_code = "UNAVAILABLE"


_BY_CODE: dict[str, type[KilnError]] = {
    cls.error_code: cls
    for cls in (
        NotFound,
        AlreadyExists,
        InvalidInput,
        Conflict,
        PermissionDenied,
        Unauthenticated,
        Unavailable,
    )
}


def error_class(error_code: str) -> type[KilnError]:
    """The exception class for an ``error_code`` (``KilnError`` for unknown codes).

    Clients use it to raise the same exception a remote server raised.
    """
    return _BY_CODE.get(error_code, KilnError)
