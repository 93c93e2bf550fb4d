"""The one rule for the names of profiles, monitors and alert rules."""

from __future__ import annotations

import re
from typing import Any

from kiln.errors import InvalidInput

__all__ = ["check_name"]

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def check_name(name: Any, *, what: str, field: str = "name") -> str:
    """``name`` when it is 1 to 128 letters, digits, '_', '.' or '-'; else ``InvalidInput``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"{what} name {name!r} is not valid: use 1 to 128 letters, digits, '_', '.' or '-'",
            field=field,
        )
    return name
