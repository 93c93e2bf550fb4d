"""Kiln: one platform for the whole machine-learning lifecycle.

The SDK's public names are importable from here; they are loaded on first
access, so ``import kiln`` stays fast and pulls in no heavy library.

- ``kiln.configure(...)`` / ``kiln.get_context()``: where the stores are.
- ``kiln.Settings``: the typed configuration (arguments > ``KILN_*`` > kiln.toml > defaults).
- ``kiln.errors``: the exception tree (also re-exported here).

Subpackages: ``kiln.db`` (metadata store), ``kiln.artifacts`` (artifact store),
``kiln.auth`` (projects, users, tokens, audit), ``kiln.server``, ``kiln.cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kiln._version import __version__

if TYPE_CHECKING:
    from kiln.config import Settings
    from kiln.context import Context, configure, get_context
    from kiln.errors import (
        AlreadyExists,
        Conflict,
        InvalidInput,
        KilnError,
        NotFound,
        PermissionDenied,
        Unauthenticated,
    )

__all__ = [
    "AlreadyExists",
    "Conflict",
    "Context",
    "InvalidInput",
    "KilnError",
    "NotFound",
    "PermissionDenied",
    "Settings",
    "Unauthenticated",
    "__version__",
    "configure",
    "get_context",
]

# name -> module that defines it; resolved on first attribute access.
_LAZY = {
    "AlreadyExists": "kiln.errors",
    "Conflict": "kiln.errors",
    "Context": "kiln.context",
    "InvalidInput": "kiln.errors",
    "KilnError": "kiln.errors",
    "NotFound": "kiln.errors",
    "PermissionDenied": "kiln.errors",
    "Settings": "kiln.config",
    "Unauthenticated": "kiln.errors",
    "configure": "kiln.context",
    "get_context": "kiln.context",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
