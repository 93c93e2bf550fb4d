"""Records as JSON for the routers whose services return plain dataclasses.

Datetimes become ISO 8601 text, enums their value, tuples lists; a
dataclass becomes an object of its fields (``exclude`` leaves some out).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from typing import Any

__all__ = ["jsonable"]


def jsonable(value: Any, *, exclude: frozenset[str] = frozenset()) -> Any:
    """``value`` made of JSON types only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if f.name not in exclude
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    return value
