"""``ArtifactStore``: content-addressed blobs on top of an ``ArtifactBackend``.

A blob's key is the SHA-256 of its bytes, so writing the same content twice
stores it once and a digest names its content forever. Bytes stream through
in chunks of ``chunk_size`` both ways, hashed on the fly; nothing holds a
whole blob in memory unless the caller asks for ``read_bytes``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from kiln.artifacts._backend import ArtifactBackend, open_backend
from kiln.artifacts._local import fsync_directory
from kiln.artifacts._paths import safe_join
from kiln.errors import Conflict, InvalidInput, NotFound

__all__ = ["DEFAULT_CHUNK_SIZE", "ArtifactStore", "Blob", "Readable"]

#: Bytes read or written per step when streaming (1 MiB).
DEFAULT_CHUNK_SIZE = 1 << 20
_BLOBS = "blobs/sha256"
_DIGEST = re.compile(r"[0-9a-f]{64}")


class Readable(Protocol):
    """Anything with a binary ``read(size)``: open files, sockets' files, HTTP bodies."""

    def read(self, size: int = ..., /) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Blob:
    """A stored blob: its SHA-256 hex digest and its size in bytes."""

    digest: str
    size: int


class ArtifactStore:
    """Content-addressed, deduplicated, atomically written blobs.

    Build one from a backend, or from a location with :meth:`from_location`;
    the constructor only stores its arguments. Digests are 64 lowercase hex
    characters; a malformed one raises :class:`~kiln.errors.InvalidInput`
    and an unknown one :class:`~kiln.errors.NotFound`. Safe to share between
    threads, and between processes that use the same location.
    """

    def __init__(self, backend: ArtifactBackend, *, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if chunk_size < 1:
            raise InvalidInput(f"chunk_size must be a positive number of bytes, got {chunk_size}")
        self.backend = backend
        self.chunk_size = chunk_size

    @classmethod
    def from_location(cls, location: str, **storage_options: Any) -> ArtifactStore:
        """A store at a folder path or fsspec URL; see :func:`open_backend`."""
        return cls(open_backend(location, **storage_options))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.backend!r})"

    def put_bytes(self, data: bytes) -> Blob:
        """Store ``data``; when it is stored already, nothing is written (it is touched)."""
        blob = Blob(hashlib.sha256(data).hexdigest(), len(data))
        key = _key(blob.digest)
        if self.backend.exists(key) and self._touch(key):
            return blob
        step = self.chunk_size
        chunks = (data[start : start + step] for start in range(0, len(data), step))
        self._publish(self.backend.write_temporary(chunks), blob.digest)
        return blob

    def put_file(self, path: str | os.PathLike[str]) -> Blob:
        """Store the contents of the local file at ``path``, streaming."""
        with open(path, "rb") as file:
            return self.put_stream(file)

    def put_stream(self, reader: Readable) -> Blob:
        """Store everything ``reader`` yields until it returns ``b""``.

        The bytes are hashed while they are written to a temporary, one chunk
        at a time, so a stream larger than memory is fine. Short reads are fine
        too; the reader is not closed.
        """
        hasher = hashlib.sha256()
        size = 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            while chunk := reader.read(self.chunk_size):
                if not isinstance(chunk, bytes | bytearray | memoryview):
                    raise InvalidInput(
                        f"put_stream needs a binary reader, but read() returned "
                        f"{type(chunk).__name__}; open the file in 'rb' mode"
                    )
                hasher.update(chunk)
                size += len(chunk)
                yield chunk

        temporary = self.backend.write_temporary(chunks())
        digest = hasher.hexdigest()
        self._publish(temporary, digest)
        return Blob(digest, size)

    def open(self, digest: str) -> BinaryIO:
        """Open the blob for streaming reads; close it (``with``) when done."""
        key = _key(digest)
        try:
            return self.backend.open_read(key)
        except FileNotFoundError:
            raise self._not_found(digest) from None

    def read_bytes(self, digest: str) -> bytes:
        """The whole blob in memory; prefer :meth:`open` for large blobs."""
        with self.open(digest) as file:
            return file.read()

    def copy_to(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Stream the blob into the local file ``dest``, atomically, and return its path.

        ``dest``'s folder must exist. The copy is checked against the digest
        on the way; a mismatch (a corrupted blob) raises
        :class:`~kiln.errors.Conflict` and leaves ``dest`` untouched.
        """
        with self.open(digest) as source:
            return self._copy(source, digest, Path(dest))

    def export(self, digest: str, root: str | os.PathLike[str], logical_path: str) -> Path:
        """Copy the blob to ``root/logical_path``, creating folders as needed.

        ``logical_path`` must pass :func:`~kiln.artifacts.validate_artifact_path`,
        and the result is guaranteed to stay inside ``root``.
        """
        dest = safe_join(Path(root), logical_path)
        with self.open(digest) as source:
            dest.parent.mkdir(parents=True, exist_ok=True)
            return self._copy(source, digest, dest)

    def exists(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self.backend.exists(_key(digest))

    def size(self, digest: str) -> int:
        """The blob's size in bytes."""
        key = _key(digest)
        try:
            return self.backend.size(key)
        except FileNotFoundError:
            raise self._not_found(digest) from None

    def modified(self, digest: str) -> float | None:
        """When the blob was last written (POSIX seconds), or None when the backend cannot tell.

        Writing content that is stored already counts as writing it, where the
        backend can record that (:meth:`ArtifactBackend.touch`).
        """
        key = _key(digest)
        try:
            return self.backend.modified(key)
        except FileNotFoundError:
            raise self._not_found(digest) from None

    def delete(self, digest: str) -> None:
        """Remove the blob. Whoever calls this must know no record still needs it."""
        key = _key(digest)
        try:
            self.backend.delete(key)
        except FileNotFoundError:
            raise self._not_found(digest) from None

    def digests(self) -> Iterator[str]:
        """The digest of every stored blob, in sorted order."""
        for key in self.backend.list_keys(_BLOBS):
            digest = key.rsplit("/", 1)[-1]
            if _DIGEST.fullmatch(digest) and key == _key(digest):
                yield digest

    def cleanup_temporaries(self, older_than_seconds: float = 3600.0) -> int:
        """Remove temporaries left by crashed writers; return how many.

        Only temporaries untouched for ``older_than_seconds`` go, so writers
        still at work are spared as long as they write more often than that.
        ``0`` removes every temporary: only do that when no writer is running.
        """
        if older_than_seconds < 0:
            raise InvalidInput(f"older_than_seconds must be zero or more, got {older_than_seconds}")
        return self.backend.cleanup_temporaries(older_than_seconds)

    def _publish(self, temporary: str, digest: str) -> None:
        key = _key(digest)
        try:
            published = self.backend.publish(temporary, key)
        except FileNotFoundError:
            raise Conflict(
                f"the temporary holding blob {digest} vanished before it was published, "
                "most likely removed by cleanup_temporaries() with too short an age; "
                "write the blob again"
            ) from None
        if not published and not self._touch(key):
            raise Conflict(
                f"blob {digest} was removed (by `kiln gc`) while the same content was "
                "being written; write the blob again"
            )

    def _touch(self, key: str) -> bool:
        """Refresh a stored blob's age for ``kiln gc``; False when it is gone meanwhile."""
        try:
            self.backend.touch(key)
        except FileNotFoundError:
            return False
        return True

    def _copy(self, source: BinaryIO, digest: str, dest: Path) -> Path:
        hasher = hashlib.sha256()
        temporary = dest.with_name(f".kiln-{secrets.token_hex(8)}.part")
        try:
            with open(temporary, "xb") as target:
                while chunk := source.read(self.chunk_size):
                    hasher.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            if hasher.hexdigest() != digest:
                raise Conflict(
                    f"blob {digest} in {self.backend.location!r} is corrupted: its bytes hash "
                    f"to {hasher.hexdigest()}; delete it and store the content again"
                )
            os.replace(temporary, dest)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(dest.parent)
        return dest

    def _not_found(self, digest: str) -> NotFound:
        return NotFound(
            f"no blob {digest} in the artifact store at {self.backend.location!r}; "
            "check the digest, or store the content first"
        )


def _key(digest: str) -> str:
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInput(
            f"malformed blob digest {digest!r}: expected a SHA-256 hex digest, "
            "64 characters from 0-9 and a-f"
        )
    return f"{_BLOBS}/{digest[:2]}/{digest[2:4]}/{digest}"
