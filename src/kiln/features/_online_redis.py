"""The Redis online store: the newest row per entity, shared by many servers.

Why Redis: several ``kiln serve`` processes on several machines can read one
store, and a read is one round trip whatever the number of keys.

Layout — one Redis string per entity::

    kiln:online:<table>:<entity key>  →  b"<event_us>:<payload>"

The table is escaped (``%`` → ``%25``, ``:`` → ``%3A``) so the first ``:``
after the prefix always ends it: ``a`` and ``ab``, or ``a`` with key ``b:c``
and ``a:b`` with key ``c``, can never share a key, and the SCAN pattern of a
table (``kiln:online:<table, glob-escaped>:*``) matches that table only. The
value starts with the event time in decimal, so a reader splits it at the
first ``:`` and the payload bytes follow untouched (NULs and all).

Writes keep the newest row atomically per key with one Lua script (loaded
once, called by EVALSHA) that takes up to 500 keys per call: for each key it
reads only the value's first 21 bytes (``GETRANGE``; enough for any event
time and its ``:``) and replaces the value unless the stored time is later.
The calls of a ``write`` go out in pipelines, so 100,000 rows cost a few
dozen round trips. Event times are compared as Lua numbers (doubles): exact
up to 2**53 µs after the epoch, the year 2255. A ``write`` is atomic per key
and per batch of 500, not as a whole (Redis has no rollback).

Reads are one ``MGET`` (pipelined per 1,000 keys beyond that). ``count`` and
``drop`` SCAN the table's pattern: they cost a pass over the database's keys,
acceptable for the rare administrative calls they are (``drop`` UNLINKs in
batches of 500). Redis Cluster is not supported (a script's keys would span
slots).

``redis`` is imported when a store is created, not when this module is.
Redis errors become :class:`kiln.errors.KilnError` naming the masked URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from kiln.errors import InvalidInput, KilnError, Unavailable
from kiln.features._online import OnlineStore, StoredRow

__all__ = ["RedisOnlineStore"]

PREFIX = "kiln:online:"

#: For each KEYS[i]: ARGV[2i-1] is the event time, ARGV[2i] the payload.
_WRITE_NEWEST = """
for i, key in ipairs(KEYS) do
    local event_us = ARGV[2 * i - 1]
    local head = redis.call('GETRANGE', key, 0, 20)
    local colon = string.find(head, ':', 1, true)
    local stored = colon and tonumber(string.sub(head, 1, colon - 1))
    if not stored or stored <= tonumber(event_us) then
        redis.call('SET', key, event_us .. ':' .. ARGV[2 * i])
    end
end
return #KEYS
"""

_KEYS_PER_SCRIPT = 500
_BYTES_PER_SCRIPT = 4 << 20
_SCRIPTS_PER_PIPELINE = 20
_BYTES_PER_PIPELINE = 32 << 20
_KEYS_PER_MGET = 1000
_SCAN_COUNT = 1000
_UNLINK_BATCH = 500


def _table_prefix(table: str) -> str:
    return f"{PREFIX}{table.replace('%', '%25').replace(':', '%3A')}:"


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis MATCH pattern."""
    for special in "\\*?[]":
        text = text.replace(special, "\\" + special)
    return text


class RedisOnlineStore(OnlineStore):
    """Newest row per entity key, in Redis (see the module for the layout)."""

    scheme = "redis"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        try:
            import redis
        except ImportError:
            raise KilnError(
                f"the online store {self._masked()} needs the redis package; "
                "install it with `pip install 'kiln-ml[redis]'`"
            ) from None
        self._redis = redis
        self._lock = threading.Lock()
        #: ``(client, write script)`` once made; ``close`` resets it.
        self._held: tuple[Any, Any] | None = None
        self._connect()  # checks the URL now; connects on the first command

    def _masked(self) -> str:
        from kiln.config import mask_url

        return mask_url(self.url)

    def _connect(self) -> tuple[Any, Any]:
        held = self._held
        if held is not None:
            return held
        with self._lock:
            if self._held is None:
                try:
                    client = self._redis.Redis.from_url(
                        self.url, socket_connect_timeout=5, socket_timeout=60
                    )
                except ValueError as exc:
                    raise InvalidInput(
                        f"the online store URL {self._masked()} is not a Redis URL ({exc}); "
                        "use redis://host:port/db",
                        field="online_store_url",
                    ) from None
                self._held = (client, client.register_script(_WRITE_NEWEST))
            return self._held

    def _failure(self, exc: Exception) -> KilnError:
        if isinstance(exc, self._redis.ConnectionError | self._redis.TimeoutError):
            return Unavailable(
                f"cannot reach the Redis online store at {self._masked()} ({exc}); "
                "start Redis there or fix online_store_url"
            )
        return KilnError(f"the Redis online store at {self._masked()} failed: {exc}")

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, None
        if held is not None:
            held[0].close()

    def write(self, table: str, rows: Iterable[tuple[str, int, bytes]]) -> int:
        client, script = self._connect()
        prefix = _table_prefix(table)
        given = 0
        keys: list[str] = []
        args: list[int | bytes] = []
        batch_bytes = pipe_bytes = scripts = 0
        try:
            pipe = client.pipeline(transaction=False)
            for key, event_us, payload in rows:
                given += 1
                keys.append(prefix + key)
                args.append(event_us)
                args.append(payload)
                batch_bytes += len(payload)
                if len(keys) >= _KEYS_PER_SCRIPT or batch_bytes >= _BYTES_PER_SCRIPT:
                    script(keys=keys, args=args, client=pipe)
                    keys, args = [], []
                    pipe_bytes += batch_bytes
                    batch_bytes = 0
                    scripts += 1
                    if scripts >= _SCRIPTS_PER_PIPELINE or pipe_bytes >= _BYTES_PER_PIPELINE:
                        pipe.execute()
                        pipe_bytes = scripts = 0
            if keys:
                script(keys=keys, args=args, client=pipe)
            pipe.execute()
        except self._redis.RedisError as exc:
            raise self._failure(exc) from None
        return given

    def read(self, table: str, keys: Sequence[str]) -> list[StoredRow | None]:
        if not keys:
            return []
        client, _ = self._connect()
        prefix = _table_prefix(table)
        names = [prefix + key for key in keys]
        try:
            if len(names) <= _KEYS_PER_MGET:
                values = client.mget(names)
            else:
                pipe = client.pipeline(transaction=False)
                for start in range(0, len(names), _KEYS_PER_MGET):
                    pipe.mget(names[start : start + _KEYS_PER_MGET])
                values = [value for chunk in pipe.execute() for value in chunk]
        except self._redis.RedisError as exc:
            raise self._failure(exc) from None
        found: list[StoredRow | None] = []
        for value in values:
            if value is None:
                found.append(None)
            else:
                event_us, _, payload = value.partition(b":")
                found.append((int(event_us), payload))
        return found

    def _scan(self, client: Any, table: str) -> Iterator[bytes]:
        """The keys of ``table``; SCAN may return a key twice."""
        pattern = _glob_escape(_table_prefix(table)) + "*"
        return iter(client.scan_iter(match=pattern, count=_SCAN_COUNT))

    def count(self, table: str) -> int:
        client, _ = self._connect()
        try:
            return len(set(self._scan(client, table)))
        except self._redis.RedisError as exc:
            raise self._failure(exc) from None

    def drop(self, table: str) -> None:
        client, _ = self._connect()
        try:
            names: list[bytes] = []
            for name in self._scan(client, table):  # deleting while scanning is allowed
                names.append(name)
                if len(names) >= _UNLINK_BATCH:
                    client.unlink(*names)
                    names.clear()
            if names:
                client.unlink(*names)
        except self._redis.RedisError as exc:
            raise self._failure(exc) from None
