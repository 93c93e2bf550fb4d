"""What the store does beyond the conformance suite: choosing backends, local layout, limits."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from kiln.artifacts import (
    ArtifactStore,
    FsspecArtifactBackend,
    LocalArtifactBackend,
    open_backend,
)
from kiln.errors import Conflict, InvalidInput

MIB = 1 << 20


class ZeroReader:
    """``total`` bytes of a repeated pattern, returned one ``size`` request at a time."""

    def __init__(self, total: int) -> None:
        self.remaining = total

    def read(self, size: int = -1, /) -> bytes:
        length = min(self.remaining, size if size > 0 else MIB)
        self.remaining -= length
        return b"\x5a" * length


def test_open_backend_picks_local_for_paths_and_file_urls(tmp_path: Path) -> None:
    assert isinstance(open_backend(str(tmp_path)), LocalArtifactBackend)
    local = open_backend(f"file://{tmp_path}/store")
    assert isinstance(local, LocalArtifactBackend)
    assert local.root == tmp_path / "store"
    assert isinstance(open_backend("file://localhost/srv/kiln"), LocalArtifactBackend)
    home = open_backend("~/kiln-artifacts")
    assert isinstance(home, LocalArtifactBackend)
    assert home.root == Path.home() / "kiln-artifacts"


def test_open_backend_picks_fsspec_for_other_urls() -> None:
    for url in ("memory://x", "s3://bucket/prefix", "simplecache::s3://bucket"):
        backend = open_backend(url)
        assert isinstance(backend, FsspecArtifactBackend)
        assert backend.url == url


def test_open_backend_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        open_backend("")
    with pytest.raises(InvalidInput, match="only local files"):
        open_backend("file://fileserver/share")
    with pytest.raises(InvalidInput, match="storage options"):
        open_backend(str(tmp_path), anon=True)


def test_unknown_protocol_fails_on_first_use_with_a_hint() -> None:
    store = ArtifactStore.from_location("nosuchprotocol://bucket/kiln")
    with pytest.raises(InvalidInput, match="nosuchprotocol://bucket/kiln"):
        store.put_bytes(b"x")


def test_location_hides_passwords() -> None:
    backend = FsspecArtifactBackend("ftp://kiln:hunter2@files.example.com/artifacts")
    assert "hunter2" not in backend.location
    assert "hunter2" not in repr(ArtifactStore(backend))


def test_chunk_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="chunk_size"):
        ArtifactStore(LocalArtifactBackend(tmp_path), chunk_size=0)


def test_constructors_touch_nothing(tmp_path: Path) -> None:
    root = tmp_path / "not-yet"
    store = ArtifactStore.from_location(str(root))
    assert not root.exists()
    assert list(store.digests()) == []
    assert not store.exists("0" * 64)
    assert store.cleanup_temporaries(0) == 0
    assert not root.exists()


def test_local_layout(tmp_path: Path) -> None:
    store = ArtifactStore(LocalArtifactBackend(tmp_path))
    blob = store.put_bytes(b"layout")
    d = blob.digest
    path = tmp_path / "blobs" / "sha256" / d[:2] / d[2:4] / d
    assert path.read_bytes() == b"layout"
    assert os.stat(path).st_mode & 0o400
    assert list((tmp_path / "tmp").iterdir()) == []


def test_local_put_stream_holds_about_one_chunk(tmp_path: Path) -> None:
    store = ArtifactStore(LocalArtifactBackend(tmp_path), chunk_size=MIB)
    store.put_bytes(b"warm up")
    tracemalloc.start()
    try:
        blob = store.put_stream(ZeroReader(32 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == 32 * MIB
    assert peak < 4 * MIB


def test_copy_to_detects_a_corrupted_blob(tmp_path: Path) -> None:
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    blob = store.put_bytes(b"original content")
    d = blob.digest
    (tmp_path / "store" / "blobs" / "sha256" / d[:2] / d[2:4] / d).write_bytes(b"tampered")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Conflict, match="corrupted"):
        store.copy_to(d, out / "file.bin")
    assert list(out.iterdir()) == []


def test_copy_to_replaces_an_existing_file(tmp_path: Path) -> None:
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    blob = store.put_bytes(b"new")
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old and longer")
    assert store.copy_to(blob.digest, dest) == dest
    assert dest.read_bytes() == b"new"


@pytest.mark.parametrize("logical_path", ["../escape.bin", "/etc/passwd", "a/%2e%2e/b"])
def test_export_refuses_unsafe_paths_and_writes_nothing(tmp_path: Path, logical_path: str) -> None:
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    blob = store.put_bytes(b"payload")
    with pytest.raises(InvalidInput, match="unsafe artifact path"):
        store.export(blob.digest, tmp_path / "run", logical_path)
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "escape.bin").exists()


def test_put_file_streams_a_file(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with open(source, "wb") as file:
        for i in range(3):
            file.write(bytes([i]) * MIB)
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    blob = store.put_file(source)
    assert blob.size == 3 * MIB
    assert blob.digest == hashlib.sha256(source.read_bytes()).hexdigest()
