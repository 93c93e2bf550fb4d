"""The online store interface: the newest row of each entity, per feature view, fast.

An online store keeps, per *table* (one per project and feature view) and
per *entity key* (the view's join key values, encoded as text), one
``(event time, payload)`` pair: the event time in microseconds since the
epoch (UTC) and the row's feature values as opaque bytes. It knows nothing
of features, types or ttl — encoding and decoding happen above it
(``_online_rows.py``) — so a new backend is three small methods and the
shared conformance test (tests/features/test_online_stores.py).

Writes keep the newest row: a row replaces the stored one only when its
event time is the same or later, so writing an older history (a backfill)
never hides a newer value, and re-writing the same time (a re-materialized
range, say with a feature added) replaces it.

Backends are chosen by the URL scheme: ``sqlite:///path`` (the embedded
default) and ``redis://host:port/db`` are built in; others plug in through
the ``kiln.online_stores`` entry-point group (``scheme = "module:Class"``,
the class taking the URL).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import ClassVar

__all__ = ["ENTRY_POINT_GROUP", "OnlineStore", "StoredRow", "open_online_store"]

ENTRY_POINT_GROUP = "kiln.online_stores"

#: One stored row: (event time in microseconds since the epoch, UTC; payload).
StoredRow = tuple[int, bytes]


class OnlineStore(ABC):
    """Newest ``(event time, payload)`` per entity key, per table."""

    #: The URL scheme this backend serves (``sqlite``, ``redis``).
    scheme: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url

    @abstractmethod
    def write(self, table: str, rows: Iterable[tuple[str, int, bytes]]) -> int:
        """Store ``(key, event time, payload)`` rows where not older than what is stored.

        Returns how many rows were given. All-or-nothing per call where the
        backend allows (SQLite: one transaction); never partial per row.
        """

    @abstractmethod
    def read(self, table: str, keys: Sequence[str]) -> list[StoredRow | None]:
        """The stored row of each key, in order; None where there is none."""

    @abstractmethod
    def drop(self, table: str) -> None:
        """Forget every row of ``table`` (a removed view)."""

    @abstractmethod
    def count(self, table: str) -> int:
        """How many keys ``table`` holds."""

    def close(self) -> None:  # noqa: B027 - a store without connections has nothing to do
        """Release connections (the store can be used again afterwards)."""

    def __repr__(self) -> str:
        from kiln.config import mask_url

        return f"{type(self).__name__}({mask_url(self.url)!r})"


def _backends() -> dict[str, str]:
    from kiln._plugins import entry_point_table

    return {
        "sqlite": "kiln.features._online_sqlite:SQLiteOnlineStore",
        "redis": "kiln.features._online_redis:RedisOnlineStore",
        "rediss": "kiln.features._online_redis:RedisOnlineStore",
        **entry_point_table(ENTRY_POINT_GROUP),
    }


def open_online_store(url: str) -> OnlineStore:
    """The online store at ``url``, by its scheme (see the module)."""
    from kiln.errors import InvalidInput

    scheme = url.partition(":")[0].partition("+")[0].lower()
    backends = _backends()
    target = backends.get(scheme)
    if target is None:
        raise InvalidInput(
            f"no online store serves {scheme!r} URLs; use sqlite:///path or "
            f"redis://host:port/db (installed: {', '.join(sorted(backends))})",
            field="online_store_url",
        )
    from kiln._plugins import plugin_class

    store: OnlineStore = plugin_class(target, OnlineStore, f"the {scheme} online store")(url)
    return store
