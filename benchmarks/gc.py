"""Time ``kiln gc`` over a store of many blobs; prints one JSON object to stdout.

    python benchmarks/gc.py                 # 10,000 blobs, half referenced by run files
    python benchmarks/gc.py --blobs 50000

Builds a temporary Kiln home (SQLite, local artifact folder), stores
``--blobs`` small blobs, records half of them as files of runs, makes the
other half old orphans, then times a dry run and a ``--delete`` run of
:func:`kiln.gc.collect`. The collection's cost is the listing, one stat per
unreferenced blob and one read of every reference; setting up the store is
not part of the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from kiln.artifacts import LocalArtifactBackend
from kiln.config import Settings
from kiln.context import Context
from kiln.gc import collect
from kiln.tracking import RunArtifact, _artifacts, _experiments, _runs

RUNS = 100
DAYS = 86400.0


def build(kiln: Context, count: int) -> tuple[int, int]:
    store = kiln.artifacts
    blobs = [store.put_bytes(f"blob {n} ".encode() * 8) for n in range(count)]
    referenced, orphans = blobs[: count // 2], blobs[count // 2 :]
    experiment = kiln.db.run(_experiments.create_experiment, "default", "bench")
    per_run = max(1, len(referenced) // RUNS)
    for start in range(0, len(referenced), per_run):
        run = kiln.db.run(_runs.create_run, "default", experiment.id)
        files = [
            RunArtifact(f"files/{n}.txt", blob.digest, blob.size)
            for n, blob in enumerate(referenced[start : start + per_run])
        ]
        kiln.db.run(_artifacts.record_artifacts, "default", run.id, files)
    backend = store.backend
    assert isinstance(backend, LocalArtifactBackend)
    when = time.time() - 3 * DAYS
    for blob in blobs:
        path = backend.root / "blobs" / "sha256" / blob.digest[:2] / blob.digest[2:4] / blob.digest
        os.utime(path, (when, when))
    return len(referenced), len(orphans)


def bench(home: Path, count: int) -> dict[str, Any]:
    kiln = Context(Settings.load(home=home))
    try:
        referenced, orphans = build(kiln, count)
        start = time.perf_counter()
        dry = collect(kiln)
        dry_seconds = time.perf_counter() - start
        start = time.perf_counter()
        deleted = collect(kiln, dry_run=False)
        delete_seconds = time.perf_counter() - start
    finally:
        kiln.close()
    assert len(dry.garbage) == orphans, (len(dry.garbage), orphans)
    assert len(deleted.deleted) == orphans
    return {
        "blobs": count,
        "referenced_by_run_files": referenced,
        "old_orphans": orphans,
        "dry_run_s": round(dry_seconds, 3),
        "dry_run_blobs_per_s": round(count / dry_seconds),
        "delete_run_s": round(delete_seconds, 3),
        "deleted_per_s": round(orphans / delete_seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kiln-bench-gc-") as folder:
        results = bench(Path(folder) / "home", args.blobs)
    meta = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "location": "local temporary folder, SQLite",
    }
    print(json.dumps({"benchmark": "gc", **meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
