"""Online stores: write throughput and read latency of the SQLite and Redis backends.

    python benchmarks/online_stores.py [--rows 100000] [--repeats 2000] [--redis-url URL]

Rows shaped like a materialized feature view: keys as ``_online_rows``
encodes them (the JSON array ``[12345]``), payloads the JSON object of 8
float features (about 150 bytes). Each backend writes the rows into a fresh
table (timed: the first write inserts, the second rewrites every row at the
same event time, so each row goes through the newest-wins check against a
stored one), then reads 1 key and 100 random keys ``--repeats`` times each,
every read checked to find its rows; the latencies are per ``read`` call, as
the feature server makes it. SQLite uses a file in a temporary folder; Redis
is skipped, with a note, when it is not reachable, and its table is dropped
afterwards (nothing else on the server is touched).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from kiln.errors import KilnError
from kiln.features._online import OnlineStore, open_online_store

FEATURES = [f"f{i}" for i in range(8)]


def make_rows(count: int, rng: random.Random) -> list[tuple[str, int, bytes]]:
    event_us = 1_767_225_600_000_000
    return [
        (
            orjson.dumps([key]).decode(),
            event_us,
            orjson.dumps({name: rng.random() for name in FEATURES}),
        )
        for key in range(count)
    ]


def latencies_ms(
    store: OnlineStore, table: str, keys: list[str], size: int, repeats: int, rng: random.Random
) -> dict[str, float]:
    timings = []
    for _ in range(repeats):
        wanted = rng.sample(keys, size)
        started = time.perf_counter()
        found = store.read(table, wanted)
        timings.append(time.perf_counter() - started)
        if None in found:
            raise AssertionError(f"a read of {size} keys missed a written row")
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings) * 1e3, 4),
        "p99_ms": round(timings[int(len(timings) * 0.99)] * 1e3, 4),
    }


def measure(store: OnlineStore, rows: list[tuple[str, int, bytes]], repeats: int) -> dict[str, Any]:
    table = f"benchmark-{uuid.uuid4().hex}/view"
    rng = random.Random(7)
    keys = [key for key, _, _ in rows]
    try:
        started = time.perf_counter()
        store.write(table, iter(rows))
        insert_s = time.perf_counter() - started
        started = time.perf_counter()
        store.write(table, iter(rows))
        rewrite_s = time.perf_counter() - started
        if store.count(table) != len(rows):
            raise AssertionError("the store does not hold every written row")
        store.read(table, keys[:100])  # warm up: connect, prepare
        return {
            "write_s": round(insert_s, 3),
            "write_rows_per_s": round(len(rows) / insert_s),
            "rewrite_s": round(rewrite_s, 3),
            "rewrite_rows_per_s": round(len(rows) / rewrite_s),
            "read_1_key": latencies_ms(store, table, keys, 1, repeats, rng),
            "read_100_keys": latencies_ms(store, table, keys, 100, repeats, rng),
        }
    finally:
        store.drop(table)
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows = make_rows(args.rows, random.Random(1))
    report: dict[str, Any] = {
        "benchmark": "online_stores",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": len(rows),
        "payload_bytes_mean": round(statistics.mean(len(payload) for _, _, payload in rows)),
        "repeats": args.repeats,
    }
    with tempfile.TemporaryDirectory() as folder:
        sqlite = open_online_store(f"sqlite:///{Path(folder) / 'online.db'}")
        report["sqlite"] = measure(sqlite, rows, args.repeats)
    try:
        redis = open_online_store(args.redis_url)
        redis.read(f"benchmark-{uuid.uuid4().hex}/probe", ["[0]"])  # reachable?
    except KilnError as exc:
        report["redis"] = f"skipped: {exc}"
    else:
        report["redis"] = measure(redis, rows, args.repeats)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
