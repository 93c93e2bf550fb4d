"""Blob ages for ``kiln gc``: ``modified``, and a blob written again is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from kiln.artifacts import ArtifactStore, LocalArtifactBackend
from kiln.errors import NotFound

DAY = 24 * 3600.0


def _path(store: ArtifactStore, digest: str) -> Path:
    assert isinstance(store.backend, LocalArtifactBackend)
    return store.backend.root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest


@pytest.mark.parametrize("write", ["bytes", "file", "stream"])
def test_writing_stored_content_again_makes_the_blob_young(tmp_path: Path, write: str) -> None:
    store = ArtifactStore.from_location(str(tmp_path / "store"))
    digest = store.put_bytes(b"same content").digest
    long_ago = time.time() - 3 * DAY
    os.utime(_path(store, digest), (long_ago, long_ago))
    assert store.modified(digest) == pytest.approx(long_ago)

    source = tmp_path / "source"
    source.write_bytes(b"same content")
    if write == "bytes":
        store.put_bytes(b"same content")
    elif write == "file":
        store.put_file(source)
    else:
        with source.open("rb") as reader:
            store.put_stream(reader)

    modified = store.modified(digest)
    assert modified is not None
    assert modified > time.time() - 60
    assert store.read_bytes(digest) == b"same content"


def test_fsspec_blobs_have_an_age_but_are_not_touched() -> None:
    store = ArtifactStore.from_location(f"memory://ages-{time.time_ns()}")
    digest = store.put_bytes(b"in memory").digest

    first = store.modified(digest)
    store.put_bytes(b"in memory")

    assert first is not None
    assert first <= time.time()
    assert store.backend.touch("blobs/sha256/none") is False
    assert store.read_bytes(digest) == b"in memory"


def test_the_age_of_a_missing_blob_is_not_found(tmp_path: Path) -> None:
    store = ArtifactStore.from_location(str(tmp_path / "store"))
    with pytest.raises(NotFound):
        store.modified("0" * 64)
