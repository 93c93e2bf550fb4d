"""Installed entry points of a group, read once per process.

Shared by every extension point (runners, materializers, online stores).
Scanning the metadata of every installed distribution costs about 15 ms, and
a pipeline run looks up its runners and materializers every time: on a cached
10-step run that was a third of the run. A package installed while the
process runs is seen by the next process.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from typing import Any

__all__ = ["entry_point_table", "plugin_class"]

_FOUND: dict[tuple[str, Callable[..., Any]], dict[str, str]] = {}


def entry_point_table(group: str) -> dict[str, str]:
    """``name → "module:attribute"`` of the entry points installed in ``group``."""
    finder = metadata.entry_points  # part of the key: a test may install fakes
    key = (group, finder)
    found = _FOUND.get(key)
    if found is None:
        found = {ep.name: ep.value for ep in finder(group=group)}
        _FOUND[key] = found
    return dict(found)


def plugin_class(target: str, base: type[Any], what: str) -> Any:
    """The class ``"module:Class"`` names, checked to be a ``base``.

    ``what`` names the plugin in messages (``"the ray runner"``). A module
    that cannot be imported is ``NotFound`` (install its package); anything
    that is not a subclass of ``base`` is ``InvalidInput``.
    """
    import importlib

    from kiln.errors import InvalidInput, NotFound

    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise NotFound(
            f"{what} lives in {module_name!r}, which cannot be imported ({exc}); "
            "install the package that provides it"
        ) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise InvalidInput(f"{what} points at {target!r}, which is not a {base.__name__}")
    return cls
