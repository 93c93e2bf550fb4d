"""The conformance suite every ``ArtifactBackend`` passes, through the store.

To check another backend, subclass ``TestArtifactBackendConformance`` in your
own tests and override the ``backend`` fixture there.
"""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.artifacts import (
    ArtifactBackend,
    ArtifactStore,
    Blob,
    FsspecArtifactBackend,
    LocalArtifactBackend,
)
from kiln.errors import Conflict, InvalidInput, NotFound

MIB = 1 << 20
CHUNK = MIB


class GeneratedReader:
    """A binary reader over bytes made on demand, with short reads, that remembers its calls."""

    def __init__(self, total: int, piece: int = 100_000) -> None:
        self.remaining = total
        self.piece = piece
        self.counter = 0
        self.largest_request = 0

    def read(self, size: int = -1, /) -> bytes:
        self.largest_request = max(self.largest_request, size)
        if self.remaining <= 0:
            return b""
        length = min(self.piece, self.remaining, size if size > 0 else self.piece)
        self.remaining -= length
        self.counter += 1
        return hashlib.sha256(str(self.counter).encode()).digest() * (length // 32) + bytes(
            length % 32
        )


def expected_digest(total: int, piece: int = 100_000) -> str:
    hasher = hashlib.sha256()
    reader = GeneratedReader(total, piece)
    while chunk := reader.read(CHUNK):
        hasher.update(chunk)
    return hasher.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(params=["local", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactBackend]:
    if request.param == "local":
        yield LocalArtifactBackend(tmp_path / "store")
        return
    import fsspec

    root = f"kiln-tests/{uuid.uuid4().hex}"
    yield FsspecArtifactBackend(f"memory://{root}")
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


@pytest.fixture
def store(backend: ArtifactBackend) -> ArtifactStore:
    return ArtifactStore(backend, chunk_size=CHUNK)


class TestArtifactBackendConformance:
    def test_put_bytes_round_trip(self, store: ArtifactStore) -> None:
        data = b"kiln artifact " * 1000
        blob = store.put_bytes(data)
        assert blob == Blob(sha256(data), len(data))
        assert store.exists(blob.digest)
        assert store.size(blob.digest) == len(data)
        assert store.read_bytes(blob.digest) == data
        with store.open(blob.digest) as file:
            assert file.read(5) == b"kiln "
            assert file.read() == data[5:]

    def test_empty_blob(self, store: ArtifactStore) -> None:
        blob = store.put_bytes(b"")
        assert blob == Blob(sha256(b""), 0)
        assert store.read_bytes(blob.digest) == b""
        assert list(store.digests()) == [blob.digest]

    def test_same_content_is_stored_once(self, store: ArtifactStore, tmp_path: Path) -> None:
        data = b"same bytes" * 10_000
        source = tmp_path / "source.bin"
        source.write_bytes(data)
        blobs = {
            store.put_bytes(data),
            store.put_bytes(data),
            store.put_stream(io.BytesIO(data)),
            store.put_file(source),
        }
        assert blobs == {Blob(sha256(data), len(data))}
        assert list(store.digests()) == [sha256(data)]
        assert store.backend.cleanup_temporaries(0) == 0

    def test_put_stream_larger_than_a_chunk_from_a_generator(self, store: ArtifactStore) -> None:
        total = 5 * MIB + 12_345
        reader = GeneratedReader(total)
        blob = store.put_stream(reader)
        assert blob == Blob(expected_digest(total), total)
        assert 0 < reader.largest_request <= CHUNK
        hasher = hashlib.sha256()
        with store.open(blob.digest) as file:
            while chunk := file.read(CHUNK):
                assert len(chunk) <= CHUNK
                hasher.update(chunk)
        assert hasher.hexdigest() == blob.digest

    def test_unknown_digest_is_not_found_and_named(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        digest = sha256(b"never stored")
        assert not store.exists(digest)
        for call in (
            lambda: store.open(digest),
            lambda: store.read_bytes(digest),
            lambda: store.size(digest),
            lambda: store.delete(digest),
            lambda: store.copy_to(digest, tmp_path / "out.bin"),
        ):
            with pytest.raises(NotFound, match=digest):
                call()
        assert not (tmp_path / "out.bin").exists()

    @pytest.mark.parametrize(
        "digest",
        [
            "",
            "abc",
            "A" * 64,
            "g" * 64,
            "0" * 63,
            "0" * 65,
            "../" + "0" * 61,
            "0" * 62 + "/x",
            " " + "0" * 63,
        ],
    )
    def test_malformed_digest_is_invalid_input(self, store: ArtifactStore, digest: str) -> None:
        for call in (store.exists, store.open, store.read_bytes, store.size, store.delete):
            with pytest.raises(InvalidInput, match="malformed blob digest"):
                call(digest)

    def test_delete(self, store: ArtifactStore) -> None:
        kept = store.put_bytes(b"kept")
        gone = store.put_bytes(b"gone")
        store.delete(gone.digest)
        assert not store.exists(gone.digest)
        assert list(store.digests()) == [kept.digest]
        with pytest.raises(NotFound):
            store.delete(gone.digest)
        assert store.put_bytes(b"gone") == gone
        assert store.read_bytes(gone.digest) == b"gone"

    def test_digests_are_sorted_and_skip_temporaries(self, store: ArtifactStore) -> None:
        assert list(store.digests()) == []
        digests = [store.put_bytes(f"blob {i}".encode()).digest for i in range(20)]
        store.backend.write_temporary([b"not published"])
        assert list(store.digests()) == sorted(digests)

    def test_cleanup_removes_only_old_temporaries(self, store: ArtifactStore) -> None:
        assert store.cleanup_temporaries() == 0
        store.backend.write_temporary([b"left behind by a crash"])
        assert store.cleanup_temporaries(3600) == 0
        assert store.cleanup_temporaries(0) == 1
        assert store.cleanup_temporaries(0) == 0
        with pytest.raises(InvalidInput):
            store.cleanup_temporaries(-1)

    def test_failed_stream_leaves_nothing(self, store: ArtifactStore) -> None:
        class Failing:
            def __init__(self) -> None:
                self.calls = 0

            def read(self, size: int = -1, /) -> bytes:
                self.calls += 1
                if self.calls > 3:
                    raise OSError("connection reset")
                return b"x" * 1000

        with pytest.raises(OSError, match="connection reset"):
            store.put_stream(Failing())
        assert list(store.digests()) == []
        assert store.cleanup_temporaries(0) == 0

    def test_text_reader_is_refused(self, store: ArtifactStore) -> None:
        with pytest.raises(InvalidInput, match="binary reader"):
            store.put_stream(io.StringIO("text"))  # type: ignore[arg-type]
        assert store.cleanup_temporaries(0) == 0

    def test_temporary_removed_before_publish_is_a_conflict(self, store: ArtifactStore) -> None:
        class CleansUpAtTheEnd:
            done = False

            def read(self, size: int = -1, /) -> bytes:
                if self.done:
                    store.cleanup_temporaries(0)
                    return b""
                self.done = True
                return b"doomed"

        with pytest.raises(Conflict, match="cleanup_temporaries"):
            store.put_stream(CleansUpAtTheEnd())
        assert list(store.digests()) == []

    def test_publish_is_first_writer_wins(self, backend: ArtifactBackend) -> None:
        key = "blobs/sha256/00/00/" + "0" * 64
        first = backend.write_temporary([b"a", b"b"])
        second = backend.write_temporary([b"ab"])
        assert backend.publish(first, key) is True
        assert backend.publish(second, key) is False
        assert backend.size(key) == 2
        assert list(backend.list_keys("blobs")) == [key]
        assert backend.cleanup_temporaries(0) == 0
        with pytest.raises(FileNotFoundError):
            backend.publish(first, "blobs/sha256/11/11/" + "1" * 64)

    def test_copy_to_and_export(self, store: ArtifactStore, tmp_path: Path) -> None:
        data = b"model weights" * 50_000
        blob = store.put_bytes(data)
        copied = store.copy_to(blob.digest, tmp_path / "weights.bin")
        assert copied.read_bytes() == data
        exported = store.export(blob.digest, tmp_path / "run", "model/data/weights.bin")
        assert exported == tmp_path / "run" / "model" / "data" / "weights.bin"
        assert exported.read_bytes() == data
        store.copy_to(blob.digest, copied)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".part")) == []

    def test_threads_writing_the_same_content_leave_one_blob(self, store: ArtifactStore) -> None:
        total = 3 * MIB
        writers = 8
        barrier = threading.Barrier(writers)
        results: list[Blob] = []
        errors: list[BaseException] = []

        def write() -> None:
            try:
                barrier.wait()
                results.append(store.put_stream(GeneratedReader(total, piece=64 * 1024)))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=write) for _ in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        expected = Blob(expected_digest(total, piece=64 * 1024), total)
        assert results == [expected] * writers
        assert list(store.digests()) == [expected.digest]
        assert sha256(store.read_bytes(expected.digest)) == expected.digest
        assert store.cleanup_temporaries(0) == 0

    def test_threads_writing_different_content(self, store: ArtifactStore) -> None:
        payloads = [f"payload {i}".encode() * 10_000 for i in range(16)]
        results: dict[int, Blob] = {}

        def write(i: int) -> None:
            results[i] = store.put_bytes(payloads[i])

        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(payloads))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(store.digests()) == sorted(sha256(p) for p in payloads)
        for i, payload in enumerate(payloads):
            assert store.read_bytes(results[i].digest) == payload
