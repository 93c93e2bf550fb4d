"""Rules for dataset names and version references: ``name@latest``, ``name@3``, ``name@<hash>``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kiln.db.tables.data import NAME_LENGTH
from kiln.errors import InvalidInput

#: Hash prefixes are at least this long, so a short number is always a version number.
MIN_HASH_PREFIX = 7
_HEX = re.compile(r"[0-9a-f]+")
LATEST = "latest"


def check_dataset_name(name: Any, *, field: str = "name") -> str:
    """A dataset's name: printable, up to 256 characters, no ``/``, ``\\`` or ``@``."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(
            f"dataset name must be a non-empty string, got {name!r}; "
            "name it, e.g. register_dataset(df, 'transactions')",
            field=field,
        )
    if len(name) > NAME_LENGTH:
        raise InvalidInput(
            f"dataset name is {len(name)} characters long; the limit is {NAME_LENGTH}",
            field=field,
        )
    if not name.isprintable() or name != name.strip():
        raise InvalidInput(
            f"dataset name {name!r} holds control characters or leading/trailing spaces",
            field=field,
        )
    if set(name) & set("/\\@") or name in (".", ".."):
        raise InvalidInput(
            f"dataset name {name!r} must not contain '/', '\\' or '@' ('@' separates the "
            "name from the version in 'name@version')",
            field=field,
        )
    return name


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A parsed ``name@selector``: exactly one of latest, ``number`` or ``hash_prefix``."""

    name: str
    number: int | None = None
    hash_prefix: str | None = None

    @property
    def latest(self) -> bool:
        return self.number is None and self.hash_prefix is None

    def __str__(self) -> str:
        selector = self.number or self.hash_prefix or LATEST
        return f"{self.name}@{selector}"


def parse_ref(ref: Any, *, field: str = "ref") -> VersionRef:
    """``name`` or ``name@latest`` (the newest), ``name@3`` (a number) or ``name@<hash prefix>``.

    A hash prefix is 7 to 64 lower-case hex characters; anything shorter made
    of digits is a version number.
    """
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidInput(
            f"a dataset reference must be a non-empty string like 'name@latest', got {ref!r}",
            field=field,
        )
    name, at, selector = ref.rpartition("@")
    if not at:
        return VersionRef(check_dataset_name(ref, field=field))
    check_dataset_name(name, field=field)
    if selector == LATEST:
        return VersionRef(name)
    if selector.isascii() and selector.isdigit() and len(selector) < MIN_HASH_PREFIX:
        number = int(selector)
        if number >= 1:
            return VersionRef(name, number=number)
    elif MIN_HASH_PREFIX <= len(selector) <= 64 and _HEX.fullmatch(selector):
        return VersionRef(name, hash_prefix=selector)
    raise InvalidInput(
        f"bad version {selector!r} in {ref!r}: use 'latest', a version number from 1, or "
        f"{MIN_HASH_PREFIX}-64 lower-case hex characters of the version's content hash",
        field=field,
    )
