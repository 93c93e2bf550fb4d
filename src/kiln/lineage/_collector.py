"""What user code read and made while a step ran, gathered without a database.

A step runs in a worker process (or on a Ray node) that has no business
writing records. So domain functions that read or make a lineage node
(``kiln.data.load``, ``register_dataset``, ``kiln.start_run``,
``kiln.registry.load_model``, …) only *report* it here; the code running
the step opens a :func:`collecting` scope around the call, and the engine
writes the edges from what was gathered. Outside a scope, reporting is a
no-op, so these functions cost nothing extra when no pipeline runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from kiln.lineage._nodes import Node

__all__ = ["Collected", "collecting", "report_made", "report_used"]


@dataclass(slots=True)
class Collected:
    """Nodes read (``used``) and made (``made``) inside one scope, in first-seen order."""

    used: list[Node] = field(default_factory=list)
    made: list[Node] = field(default_factory=list)


_SCOPE: ContextVar[Collected | None] = ContextVar("kiln_lineage_scope", default=None)


@contextmanager
def collecting() -> Iterator[Collected]:
    """Gather what the code inside reports (nested scopes each see their own)."""
    collected = Collected()
    token = _SCOPE.set(collected)
    try:
        yield collected
    finally:
        _SCOPE.reset(token)


def report_used(node: Node) -> None:
    """The running code read ``node`` (a dataset version, a model version)."""
    scope = _SCOPE.get()
    if scope is not None and node not in scope.used:
        scope.used.append(node)


def report_made(node: Node) -> None:
    """The running code made ``node`` (a dataset version, a tracking run, a model version)."""
    scope = _SCOPE.get()
    if scope is not None and node not in scope.made:
        scope.made.append(node)
