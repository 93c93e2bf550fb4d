"""Rules for model names, aliases, version numbers and tags."""

from __future__ import annotations

import re
from typing import Any

from kiln.db.tables.registry import ALIAS_LENGTH, NAME_LENGTH
from kiln.errors import InvalidInput
from kiln.tracking._names import MAX_TAG_VALUE_LENGTH, check_key, check_value

#: Letters, digits, ``_``, ``-`` and ``.``, starting with a letter, digit or ``_``.
_ALIAS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
#: MLflow reserves these: ``models:/name/latest`` and ``v3`` would be ambiguous.
_RESERVED_ALIAS = re.compile(r"latest|v[0-9]+", re.IGNORECASE)
_SHA256 = re.compile(r"[0-9a-f]{64}")
MAX_SOURCE_LENGTH = 4096


def check_model_name(name: Any, *, field: str = "name") -> str:
    """A registered model's name: printable, up to 256 characters, no ``/``, ``\\`` or ``@``.

    Those three would make ``models:/<name>/<version>`` and ``models:/<name>@<alias>``
    ambiguous.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"model name must be a non-empty string, got {name!r}", field=field)
    if len(name) > NAME_LENGTH:
        raise InvalidInput(
            f"model name is {len(name)} characters long; the limit is {NAME_LENGTH}", field=field
        )
    if not name.isprintable() or name != name.strip():
        raise InvalidInput(
            f"model name {name!r} holds control characters or leading/trailing spaces",
            field=field,
        )
    bad = sorted(set(name) & set("/\\@"))
    if bad or name in (".", ".."):
        raise InvalidInput(
            f"model name {name!r} must not contain '/', '\\' or '@' (they separate the parts "
            "of models:/ URIs)",
            field=field,
        )
    return name


def check_alias(alias: Any, *, field: str = "alias") -> str:
    """An alias: letters, digits, ``_ - .``, up to 255 characters; not ``latest`` nor ``v<N>``."""
    if not isinstance(alias, str) or not alias:
        raise InvalidInput(f"alias must be a non-empty string, got {alias!r}", field=field)
    if len(alias) > ALIAS_LENGTH:
        raise InvalidInput(
            f"alias is {len(alias)} characters long; the limit is {ALIAS_LENGTH}", field=field
        )
    if not _ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"alias {alias!r} may contain only letters, digits, '_', '-' and '.', and must "
            "start with a letter, digit or '_' (e.g. champion, challenger, production)",
            field=field,
        )
    if _RESERVED_ALIAS.fullmatch(alias):
        raise InvalidInput(
            f"alias {alias!r} is reserved ('latest' and 'v<number>' name versions in "
            "models:/ URIs); choose another name",
            field=field,
        )
    return alias


def parse_version(version: Any, *, field: str = "version") -> int:
    """A version number: a whole number from 1 (an int, or a string of digits)."""
    number: int | None = None
    if isinstance(version, int) and not isinstance(version, bool):
        number = version
    elif isinstance(version, str) and version.isascii() and version.isdigit():
        number = int(version)
    if number is None or number < 1 or number > 2**31 - 1:
        raise InvalidInput(f"version must be a whole number from 1, got {version!r}", field=field)
    return number


def check_tag(key: Any, value: Any, *, field: str = "tags") -> tuple[str, str]:
    """A tag of a model or version: tracking's key rules, values up to 8,000 characters."""
    check_key(key, what="tag key", field=f"{field}.key")
    text = check_value(
        str(value), limit=MAX_TAG_VALUE_LENGTH, what=f"tag {key!r}", field=f"{field}.value"
    )
    return key, text


def check_sha256(digest: Any, *, field: str = "manifest_sha256") -> str:
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise InvalidInput(
            f"{field} must be 64 lower-case hex digits (a SHA-256), got {digest!r}", field=field
        )
    return digest


def check_source(source: Any) -> str:
    if not isinstance(source, str) or not source.strip():
        raise InvalidInput(f"source must be a non-empty string, got {source!r}", field="source")
    if len(source) > MAX_SOURCE_LENGTH:
        raise InvalidInput(
            f"source is {len(source)} characters long; the limit is {MAX_SOURCE_LENGTH}",
            field="source",
        )
    return source
