"""Retrying a unit of work when the database says "try again"."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

#: PostgreSQL SQLSTATEs that mean the transaction lost a race and may be replayed.
_PG_RETRYABLE = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_SQLITE_RETRYABLE = ("database is locked", "database table is locked", "database is busy")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock, serialization or dropped-connection error worth a retry."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate in _PG_RETRYABLE:
        return True
    text = str(exc.orig).lower()
    return any(marker in text for marker in _SQLITE_RETRYABLE)


def retry_transient(
    attempt: Callable[[], T],
    *,
    max_attempts: int = 8,
    base_delay: float = 0.02,
    max_delay: float = 1.0,
) -> T:
    """Call ``attempt`` until it succeeds or fails with a non-transient error.

    Waits grow exponentially with full jitter, so contending writers spread out.
    """
    for number in range(1, max_attempts + 1):
        try:
            return attempt()
        except DBAPIError as exc:
            if number == max_attempts or not is_transient(exc):
                raise
            delay = min(max_delay, base_delay * 2 ** (number - 1))
            time.sleep(random.uniform(0, delay))
    raise AssertionError("unreachable")  # pragma: no cover
