"""Limits and rules for names, keys and values in tracking."""

from __future__ import annotations

import re

from kiln.errors import InvalidInput

MAX_KEY_LENGTH = 250
MAX_NAME_LENGTH = 256
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
#: Run tags saying which features a run trained on (``kiln.features`` sets them); a model
#: version registered from the run inherits them, so serving can fetch the same features.
FEATURE_SERVICE_TAG = "kiln.feature_service"
FEATURE_VIEWS_TAG = "kiln.feature_views"
FEATURES_TAG = "kiln.features"
FULL_FEATURE_NAMES_TAG = "kiln.full_feature_names"
INHERITED_RUN_TAGS = (FEATURE_SERVICE_TAG, FEATURE_VIEWS_TAG, FEATURES_TAG, FULL_FEATURE_NAMES_TAG)
#: Letters, digits and ``_ - . / space``; ``/`` groups keys ("train/loss").
_KEY = re.compile(r"[A-Za-z0-9_\-. /]+")


def check_key(key: str, *, what: str = "key", field: str = "key") -> str:
    """A metric, param or tag key; refused when empty, too long or path-like."""
    if not isinstance(key, str) or not key:
        raise InvalidInput(f"{what} must be a non-empty string, got {key!r}", field=field)
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInput(
            f"{what} {key[:40]!r}… is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}",
            field=field,
        )
    if not _KEY.fullmatch(key):
        raise InvalidInput(
            f"{what} {key!r} may contain only letters, digits, '_', '-', '.', ' ' and '/'",
            field=field,
        )
    if key.startswith("/") or key.endswith("/") or "//" in key:
        raise InvalidInput(
            f"{what} {key!r} must not start or end with '/' or hold '//'", field=field
        )
    if any(part in (".", "..") for part in key.split("/")):
        raise InvalidInput(f"{what} {key!r} must not contain '.' or '..' segments", field=field)
    return key


def check_name(name: str, *, what: str, field: str = "name") -> str:
    """An experiment or run name: non-empty printable text up to 256 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string, got {name!r}", field=field)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"{what} is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}", field=field
        )
    if not name.isprintable():
        raise InvalidInput(f"{what} {name!r} contains control characters", field=field)
    if "/" in name or "\\" in name or name in (".", ".."):
        raise InvalidInput(f"{what} {name!r} must not contain '/' or '\\\\'", field=field)
    return name


def check_value(value: str, *, limit: int, what: str, field: str = "value") -> str:
    if len(value) > limit:
        raise InvalidInput(
            f"{what} is {len(value)} characters long; the limit is {limit}", field=field
        )
    return value
