"""Throughput of the artifact store; prints one JSON object to stdout.

    python benchmarks/artifacts.py                        # a fresh temporary folder
    python benchmarks/artifacts.py --location memory://bench --big-mib 64

Measures: many small ``put_bytes`` (every one fsynced), a large ``put_stream``
and ``open`` read-back, ``copy_to``, and what a de-duplication hit costs. The
large reads come from the page cache right after the write, as they would
for a model loaded just after it was logged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiln.artifacts import ArtifactStore

MIB = 1 << 20


class PatternReader:
    """``total`` bytes from one random MiB repeated, unique per reader through a prefix."""

    def __init__(self, total: int, block: bytes) -> None:
        self.remaining = total
        self.prefix = os.urandom(32)
        self.block = block

    def read(self, size: int = -1, /) -> bytes:
        if self.prefix:
            chunk, self.prefix = self.prefix, b""
            self.remaining -= len(chunk)
            return chunk
        length = min(self.remaining, size if size > 0 else MIB, len(self.block))
        self.remaining -= length
        return self.block[:length]


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def bench(location: str, small_count: int, small_kib: int, big_mib: int) -> dict[str, Any]:
    store = ArtifactStore.from_location(location)
    small = [os.urandom(small_kib * 1024) for _ in range(small_count)]
    block = os.urandom(MIB)
    results: dict[str, Any] = {}

    _, seconds = timed(lambda: [store.put_bytes(data) for data in small])
    results["put_bytes_small"] = {
        "blobs": small_count,
        "blob_kib": small_kib,
        "blobs_per_s": round(small_count / seconds),
        "ms_per_blob": round(seconds / small_count * 1000, 3),
    }

    _, seconds = timed(lambda: [store.put_bytes(data) for data in small])
    results["put_bytes_dedupe_hit"] = {
        "blobs": small_count,
        "us_per_blob": round(seconds / small_count * 1e6, 1),
    }

    big = big_mib * MIB
    blob, seconds = timed(lambda: store.put_stream(PatternReader(big, block)))
    results["put_stream_big"] = {"mib": big_mib, "mb_per_s": round(big / seconds / 1e6)}

    def read_all() -> None:
        with store.open(blob.digest) as file:
            while file.read(MIB):
                pass

    _, seconds = timed(read_all)
    results["open_read_big"] = {"mib": big_mib, "mb_per_s": round(big / seconds / 1e6)}

    with tempfile.TemporaryDirectory() as out:
        _, seconds = timed(lambda: store.copy_to(blob.digest, Path(out) / "copy.bin"))
    results["copy_to_big_verified"] = {"mib": big_mib, "mb_per_s": round(big / seconds / 1e6)}

    with store.open(blob.digest) as file:
        _, seconds = timed(lambda: store.put_stream(file))
    results["put_stream_big_dedupe_hit"] = {
        "mib": big_mib,
        "mb_per_s": round(big / seconds / 1e6),
        "note": "a stream must be written to learn its digest; the copy is then dropped",
    }

    _, seconds = timed(lambda: hashlib.sha256(block * 64).hexdigest())
    results["sha256_baseline"] = {"mb_per_s": round(64 * MIB / seconds / 1e6)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--location", help="folder or fsspec URL (default: a temporary folder)")
    parser.add_argument("--small-count", type=int, default=1000)
    parser.add_argument("--small-kib", type=int, default=4)
    parser.add_argument("--big-mib", type=int, default=256)
    args = parser.parse_args()
    meta = {"python": platform.python_version(), "machine": platform.machine()}
    if args.location:
        results = bench(args.location, args.small_count, args.small_kib, args.big_mib)
        meta["location"] = args.location
    else:
        with tempfile.TemporaryDirectory(prefix="kiln-bench-") as folder:
            results = bench(folder, args.small_count, args.small_kib, args.big_mib)
        meta["location"] = "local temporary folder"
    print(json.dumps({"benchmark": "artifacts", **meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
