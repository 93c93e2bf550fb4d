"""Requirements: exact ``name==version`` pins for what a model needs to load.

Versions come from the installed distributions' metadata
(:mod:`importlib.metadata`), never from pip or a subprocess; a lookup costs
well under a millisecond, so the handful a flavor needs take a few
milliseconds and are not cached (a cache would go stale when packages are
installed while the process runs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import metadata

from kiln.errors import InvalidInput

__all__ = ["collect_requirements", "installed_version", "normalize_name"]

# A PEP 508 name with optional extras and version clauses (no markers, no URLs).
_CLAUSE = r"(?:===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9*][A-Za-z0-9.*+!_-]*"
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"(?P<extras>\[[A-Za-z0-9._,\s-]*\])?"
    rf"\s*(?P<spec>{_CLAUSE}(?:\s*,\s*{_CLAUSE})*)?\s*$"
)


def normalize_name(name: str) -> str:
    """The PEP 503 normal form of a distribution name (``Scikit_Learn`` → ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or ``None`` when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def collect_requirements(packages: Iterable[str], extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Sorted pins for ``packages`` (pinned to their installed versions) plus ``extra``.

    ``packages`` are what the flavor needs; one that is not installed is
    skipped (the flavor could not have saved the model without its required
    ones). ``extra`` are the caller's: a bare name is pinned to its installed
    version (refused when it is not installed), a name with a specifier is
    kept as given and replaces the flavor's pin for that name.
    """
    pins: dict[str, str] = {}
    for name in packages:
        version = installed_version(name)
        if version is not None:
            pins[normalize_name(name)] = f"{name}=={version}"
    for requirement in extra:
        if not isinstance(requirement, str):
            raise InvalidInput(
                f"requirements must be strings such as 'pkg==1.2', got {requirement!r}",
                field="requirements",
            )
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise InvalidInput(
                f"requirement {requirement!r} is not a package name with an optional "
                "version specifier such as 'pkg==1.2'",
                field="requirements",
            )
        name = match.group("name")
        if match.group("spec"):
            pins[normalize_name(name)] = requirement.strip()
            continue
        version = installed_version(name)
        if version is None:
            raise InvalidInput(
                f"requirement {name!r} is not installed, so its version is unknown; "
                f"install it or pin it yourself ('{name}==1.2.3')",
                field="requirements",
            )
        pins[normalize_name(name)] = f"{name}{match.group('extras') or ''}=={version}"
    return tuple(pins[key] for key in sorted(pins))
