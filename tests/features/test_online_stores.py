"""The online-store conformance suite: every backend keeps the newest row per key.

Each test runs on a real SQLite file under ``tmp_path`` and on the real Redis
at 127.0.0.1:6379 (skipped when it is not running, failed under CI=true).
Redis is shared with other tests, so every table here starts with a prefix of
its own (a uuid) and is dropped at teardown; nothing flushes the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kiln.errors import InvalidInput, KilnError, Unavailable
from kiln.features._online import OnlineStore, open_online_store
from kiln.features._online_redis import RedisOnlineStore
from kiln.features._online_sqlite import SQLiteOnlineStore

Tables = Callable[[str], str]


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def online_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OnlineStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'online' / 'online.db'}"
    else:
        url = request.getfixturevalue("redis_url")
    store = open_online_store(url)
    yield store
    store.close()


@pytest.fixture
def tables(online_store: OnlineStore) -> Iterator[Tables]:
    """Table names of this test's own (a uuid prefix), dropped afterwards."""
    prefix = f"kiln-test-{uuid.uuid4().hex}/"
    made: list[str] = []

    def table(name: str = "view") -> str:
        made.append(prefix + name)
        return prefix + name

    yield table
    for name in made:
        online_store.drop(name)
    for name in made:
        assert online_store.count(name) == 0


def test_a_written_row_reads_back(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    assert online_store.write(table, [("[1]", 100, b'{"x":1}'), ("[2]", 200, b'{"x":2}')]) == 2
    assert online_store.read(table, ["[1]"]) == [(100, b'{"x":1}')]
    assert online_store.read(table, ["[2]", "[1]"]) == [(200, b'{"x":2}'), (100, b'{"x":1}')]
    assert online_store.count(table) == 2


def test_missing_keys_read_as_none(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    online_store.write(table, [("[1]", 1, b"one")])
    assert online_store.read(table, ["[9]"]) == [None]
    assert online_store.read(table, ["[9]", "[1]", "[8]"]) == [None, (1, b"one"), None]
    assert online_store.read(tables("never-written"), ["[1]", "[2]"]) == [None, None]


def test_rows_follow_the_order_of_the_keys_duplicates_included(
    online_store: OnlineStore, tables: Tables
) -> None:
    table = tables("view")
    online_store.write(table, [(f"[{i}]", i, f"p{i}".encode()) for i in range(10)])
    keys = ["[7]", "[2]", "[7]", "[missing]", "[0]", "[2]", "[7]"]
    expected = [(7, b"p7"), (2, b"p2"), (7, b"p7"), None, (0, b"p0"), (2, b"p2"), (7, b"p7")]
    assert online_store.read(table, keys) == expected
    assert online_store.read(table, ["[3]", "[3]"]) == [(3, b"p3"), (3, b"p3")]


def test_the_newest_row_wins(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    online_store.write(table, [("k", 200, b"first")])
    online_store.write(table, [("k", 100, b"older")])
    assert online_store.read(table, ["k"]) == [(200, b"first")]
    online_store.write(table, [("k", 200, b"same time")])
    assert online_store.read(table, ["k"]) == [(200, b"same time")]
    online_store.write(table, [("k", 300, b"newer")])
    assert online_store.read(table, ["k"]) == [(300, b"newer")]
    online_store.write(table, [("k", -5, b"before the epoch")])
    assert online_store.read(table, ["k"]) == [(300, b"newer")]


def test_the_newest_row_wins_within_one_write(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    online_store.write(
        table,
        [("a", 1, b"a1"), ("a", 3, b"a3"), ("a", 2, b"a2"), ("b", 5, b"b5"), ("b", 5, b"b5'")],
    )
    assert online_store.read(table, ["a", "b"]) == [(3, b"a3"), (5, b"b5'")]


def test_event_times_a_microsecond_apart_compare_exactly(
    online_store: OnlineStore, tables: Tables
) -> None:
    table = tables("view")
    now_us = 1_767_225_600_123_456  # 2026-01-01, microseconds
    online_store.write(table, [("k", now_us, b"now")])
    online_store.write(table, [("k", now_us - 1, b"a microsecond earlier")])
    assert online_store.read(table, ["k"]) == [(now_us, b"now")]
    online_store.write(table, [("k", now_us + 1, b"a microsecond later")])
    assert online_store.read(table, ["k"]) == [(now_us + 1, b"a microsecond later")]


def test_rows_may_come_from_a_generator(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    rows = ((f"[{i}]", 10 + i, bytes([i % 256])) for i in range(1234))
    assert online_store.write(table, rows) == 1234
    assert online_store.count(table) == 1234
    assert online_store.read(table, ["[0]", "[1233]"]) == [
        (10, b"\x00"),
        (1243, bytes([1233 % 256])),
    ]


def test_empty_writes_and_reads(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    assert online_store.write(table, []) == 0
    assert online_store.write(table, iter(())) == 0
    assert online_store.count(table) == 0
    assert online_store.read(table, []) == []
    online_store.write(table, [("k", 1, b"x")])
    assert online_store.read(table, []) == []


def test_tables_are_isolated_even_when_one_name_prefixes_another(
    online_store: OnlineStore, tables: Tables
) -> None:
    names = ["a", "ab", "a*", "a?", "[a]", "a\\", "a:b", "a%3Ab", "a/b"]
    for name in names:
        online_store.write(tables(name), [("k", 1, name.encode())])
    # A key of table "a" that spells another table's name and key, if they were concatenated.
    online_store.write(tables("a"), [("b:k", 1, b"a's b:k")])
    for name in names:
        assert online_store.read(tables(name), ["k"]) == [(1, name.encode())], name
    assert online_store.read(tables("a:b"), ["b:k", "k"]) == [None, (1, b"a:b")]
    assert online_store.count(tables("a")) == 2
    for name in names[1:]:
        assert online_store.count(tables(name)) == 1, name

    online_store.drop(tables("a*"))  # a glob would also match "a", "ab", "a?", "a\\"...
    online_store.drop(tables("a"))  # a bare prefix would also match "ab"...
    assert online_store.read(tables("a"), ["k", "b:k"]) == [None, None]
    assert online_store.read(tables("a*"), ["k"]) == [None]
    for name in names:
        if name not in ("a", "a*"):
            assert online_store.read(tables(name), ["k"]) == [(1, name.encode())], name
            assert online_store.count(tables(name)) == 1, name


def test_count_and_drop(online_store: OnlineStore, tables: Tables) -> None:
    kept, dropped = tables("kept"), tables("dropped")
    online_store.write(kept, [(f"{i}", 1, b"x") for i in range(30)])
    online_store.write(dropped, [(f"{i}", 1, b"x") for i in range(1200)])
    online_store.write(dropped, [("0", 2, b"again")])  # a replaced row counts once
    assert online_store.count(kept) == 30
    assert online_store.count(dropped) == 1200
    online_store.drop(dropped)
    assert online_store.count(dropped) == 0
    assert online_store.read(dropped, ["0", "1199"]) == [None, None]
    assert online_store.count(kept) == 30
    online_store.drop(tables("never-written"))  # nothing to drop is fine
    online_store.write(dropped, [("0", 1, b"after the drop")])  # an older time: the old row is gone
    assert online_store.read(dropped, ["0"]) == [(1, b"after the drop")]


@pytest.mark.parametrize(
    "key",
    [
        "",
        "é",
        "日本語",
        "emoji 🙂",
        "a:b:c",
        "kiln:online:x",
        '["FR", 7]',
        "it's",
        '"q"',
        "*",
        "\\",
        "a\nb",
    ],
)
def test_any_text_is_a_key(online_store: OnlineStore, tables: Tables, key: str) -> None:
    table = tables("view")
    online_store.write(table, [(key, 1, key.encode()), ("other", 1, b"other")])
    assert online_store.read(table, [key]) == [(1, key.encode())]
    assert online_store.read(table, [key, "other"]) == [(1, key.encode()), (1, b"other")]
    assert online_store.count(table) == 2


def test_payloads_are_any_bytes(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    large = os.urandom(1 << 20)
    binary = b"\x00\x01\x00:\xff\x00"
    rows = [("large", 1, large), ("binary", 2, binary), ("empty", 3, b""), ("colons", 4, b"12:34:")]
    online_store.write(table, rows)
    assert online_store.read(table, ["large", "binary", "empty", "colons"]) == [
        (1, large),
        (2, binary),
        (3, b""),
        (4, b"12:34:"),
    ]
    assert online_store.read(table, ["binary"]) == [(2, binary)]
    online_store.write(table, [("large", 0, b"older")])  # the time check reads a 1 MB value
    assert online_store.read(table, ["large"]) == [(1, large)]


def test_a_read_of_thousands_of_keys(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    online_store.write(table, [(f"[{i}]", i, f"p{i}".encode()) for i in range(0, 3000, 2)])
    keys = [f"[{i}]" for i in range(3000)] + ["[0]", "[2998]", "[1]"]
    expected = [(i, f"p{i}".encode()) if i % 2 == 0 else None for i in range(3000)]
    expected += [(0, b"p0"), (2998, b"p2998"), None]
    assert online_store.read(table, keys) == expected


def test_a_closed_store_can_be_used_again(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    online_store.write(table, [("k", 1, b"before")])
    online_store.close()
    assert online_store.read(table, ["k"]) == [(1, b"before")]
    online_store.close()
    online_store.close()  # closing twice is fine
    online_store.write(table, [("k", 2, b"after")])
    assert online_store.read(table, ["k"]) == [(2, b"after")]
    assert online_store.count(table) == 1


def test_concurrent_threads_lose_no_write(online_store: OnlineStore, tables: Tables) -> None:
    table = tables("view")
    workers, rounds = 8, 20
    errors: list[BaseException] = []
    start = threading.Barrier(workers)

    def work(worker: int) -> None:
        try:
            start.wait()
            for step in range(rounds):
                own = [(f"own-{worker}-{step}-{i}", step, b"own") for i in range(50)]
                # Every worker writes the shared keys; the newest time (worker, step) wins.
                shared = [
                    (f"shared-{i}", worker * 1000 + step, f"{worker}/{step}".encode())
                    for i in range(20)
                ]
                online_store.write(table, own + shared)
                assert online_store.read(table, [own[0][0]]) == [(step, b"own")]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert online_store.count(table) == workers * rounds * 50 + 20
    newest = (workers - 1) * 1000 + rounds - 1
    shared = online_store.read(table, [f"shared-{i}" for i in range(20)])
    assert shared == [(newest, f"{workers - 1}/{rounds - 1}".encode())] * 20


# -- how stores are chosen ------------------------------------------------------


def test_a_sqlite_url_opens_the_sqlite_store(tmp_path: Path) -> None:
    sqlite = open_online_store(f"sqlite:///{tmp_path / 'online.db'}")
    assert type(sqlite) is SQLiteOnlineStore
    assert sqlite.read("t", ["k"]) == [None]
    sqlite.close()


@pytest.mark.redis
def test_a_redis_url_opens_the_redis_store(redis_url: str) -> None:
    redis = open_online_store(redis_url)
    assert type(redis) is RedisOnlineStore
    assert redis.read(f"kiln-test-{uuid.uuid4().hex}", ["k"]) == [None]
    redis.close()


def test_an_unknown_scheme_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"no online store serves 'memcached' URLs") as caught:
        open_online_store("memcached://127.0.0.1:11211")
    assert caught.value.field == "online_store_url"


# -- SQLite ---------------------------------------------------------------------


def test_sqlite_relative_paths_and_missing_folders(tmp_path: Path) -> None:
    store = SQLiteOnlineStore("sqlite:///nested/folders/online.db")  # cwd is tmp_path
    store.write("t", [("k", 1, b"x")])
    store.close()
    assert (tmp_path / "nested" / "folders" / "online.db").is_file()
    absolute = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'nested' / 'folders' / 'online.db'}")
    assert absolute.read("t", ["k"]) == [(1, b"x")]
    absolute.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:/x.db"])
def test_sqlite_needs_a_file(url: str) -> None:
    with pytest.raises(InvalidInput, match="needs a file"):
        SQLiteOnlineStore(url)


def test_sqlite_a_failed_write_writes_nothing(tmp_path: Path) -> None:
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    store.write("t", [("k", 1, b"kept")])

    def rows() -> Iterator[tuple[str, int, bytes]]:
        yield "k", 2, b"replaced"
        yield "new", 2, b"new"
        raise RuntimeError("the source broke")

    with pytest.raises(RuntimeError, match="the source broke"):
        store.write("t", rows())
    assert store.read("t", ["k", "new"]) == [(1, b"kept"), None]
    store.write("t", [("k", 3, b"the store still writes")])
    assert store.read("t", ["k"]) == [(3, b"the store still writes")]
    store.close()


def test_sqlite_a_folder_it_cannot_create_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'file' / 'online.db'}")
    with pytest.raises(KilnError, match="cannot open the SQLite online store") as caught:
        store.read("t", ["k"])
    assert "online_store_url" in str(caught.value)


_WRITER = """
import sys, time
from pathlib import Path
from kiln.features._online_sqlite import SQLiteOnlineStore

url, worker, go = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
store = SQLiteOnlineStore(url)
while not go.exists():  # start together, so the writes overlap
    time.sleep(0.001)
for step in range(40):
    own = [(f"own-{worker}-{step}-{i}", step, b"own") for i in range(250)]
    shared = [(f"shared-{i}", step * 10 + worker, f"{worker}/{step}".encode()) for i in range(50)]
    store.write("t", own + shared)
store.close()
"""


def test_sqlite_two_processes_write_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'online.db'}"  # both also race to create it
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(worker), str(go)], stderr=subprocess.PIPE
        )
        for worker in (1, 2)
    ]
    go.touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr.decode()
    store = SQLiteOnlineStore(url)
    assert store.count("t") == 2 * 40 * 250 + 50
    assert store.read("t", ["own-1-0-0", "own-2-39-249"]) == [(0, b"own"), (39, b"own")]
    assert store.read("t", [f"shared-{i}" for i in range(50)]) == [(392, b"2/39")] * 50
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_sqlite_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteOnlineStore(f"sqlite:///{tmp_path / 'online.db'}")
    store.write("t", [("parent", 1, b"p")])
    parent_connection = store._connection()
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if it did not reuse the parent's connection
        code = 1
        try:
            if store._connection() is not parent_connection:
                store.write("t", [("child", 2, b"c")])
                code = 0 if store.read("t", ["parent"]) == [(1, b"p")] else 3
            store.close()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store._connection() is parent_connection
    assert store.read("t", ["child", "parent"]) == [(2, b"c"), (1, b"p")]
    store.close()


# -- Redis ----------------------------------------------------------------------


def test_redis_module_imports_redis_only_when_a_store_is_made() -> None:
    code = (
        "import sys, kiln.features._online_redis, kiln.features._online_sqlite; "
        "assert 'redis' not in sys.modules, 'redis imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.redis
def test_redis_keys_use_the_documented_layout(redis_url: str) -> None:
    import redis

    table = f"kiln-test-{uuid.uuid4().hex}/a:b"
    store = RedisOnlineStore(redis_url)
    store.write(table, [("[1]", 42, b"\x00payload")])
    client = redis.Redis.from_url(redis_url)
    try:
        escaped = table.replace(":", "%3A")
        assert client.get(f"kiln:online:{escaped}:[1]") == b"42:\x00payload"
        client.set(f"kiln:online:{escaped}:[2]", b"not a row of ours")  # foreign: no time
        store.write(table, [("[2]", 1, b"ours")])
        assert store.read(table, ["[2]"]) == [(1, b"ours")]
    finally:
        store.drop(table)
        assert client.keys(f"kiln:online:{table.replace(':', '%3A')}:*") == []
        client.close()
        store.close()


@pytest.mark.parametrize(
    "url", ["redis://127.0.0.1:1/0", "redis://:s3cret@127.0.0.1:1/0"], ids=["plain", "password"]
)
def test_redis_that_is_not_running_is_a_clear_error(url: str) -> None:
    import redis

    store = open_online_store(url)
    calls: list[Callable[[], object]] = [
        lambda: store.read("t", ["k"]),
        lambda: store.read("t", ["k", "j"]),
        lambda: store.write("t", [("k", 1, b"x")]),
        lambda: store.count("t"),
        lambda: store.drop("t"),
    ]
    for call in calls:
        with pytest.raises(Unavailable) as caught:
            call()
        assert not isinstance(caught.value, redis.RedisError)
        assert caught.value.__cause__ is None
        assert caught.value.__suppress_context__
        message = str(caught.value)
        assert "cannot reach the Redis online store at redis://" in message
        assert "127.0.0.1:1/0" in message
        assert "start Redis" in message
        assert "online_store_url" in message
        assert "s3cret" not in message
    store.close()


def test_redis_a_malformed_url_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a Redis URL"):
        RedisOnlineStore("redis://127.0.0.1:notaport/0")
