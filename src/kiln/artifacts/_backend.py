"""The backend interface: the few primitives an artifact store needs from storage.

A backend stores opaque files under *keys*, relative POSIX paths such as
``blobs/sha256/ab/cd/abcd...``, and knows nothing about digests. New bytes
always arrive in two steps, so a reader can never see half a file:
:meth:`~ArtifactBackend.write_temporary` streams them somewhere private, then
:meth:`~ArtifactBackend.publish` moves the finished file to its key in one
atomic step. :func:`open_backend` picks an implementation for a location.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from kiln.errors import InvalidInput

__all__ = ["ArtifactBackend", "open_backend"]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+)://")
_LOCAL_SCHEMES = frozenset({"file", "local"})


class ArtifactBackend(ABC):
    """Storage for an :class:`~kiln.artifacts.ArtifactStore`: a few primitives.

    Keys are ``/``-separated relative paths chosen by the store, never by
    users. A missing key raises the builtin :class:`FileNotFoundError`; the
    store turns it into :class:`~kiln.errors.NotFound`. Temporaries live
    apart from keys (under ``tmp/``), are named by the backend, and are
    invisible to :meth:`list_keys`. Every backend passes the conformance
    tests in ``tests/artifacts/test_backends.py``.
    """

    @property
    @abstractmethod
    def location(self) -> str:
        """Where the backend keeps its files, fit for messages (no secrets)."""

    @abstractmethod
    def write_temporary(self, chunks: Iterable[bytes]) -> str:
        """Write ``chunks`` to a new private temporary and return its name.

        Chunks are written as they arrive, never gathered in memory. The
        temporary is durable when this returns. If writing or the iterable
        fails, the temporary is removed and the error propagates.
        """

    @abstractmethod
    def publish(self, temporary: str, key: str) -> bool:
        """Move ``temporary`` to ``key`` atomically; the temporary is gone afterwards.

        Readers see either no file at ``key`` or the complete one. When ``key``
        exists already the temporary is dropped and ``False`` is returned, so
        identical content is stored once. May raise :class:`FileNotFoundError`
        when the temporary no longer exists (removed by
        :meth:`cleanup_temporaries`).
        """

    @abstractmethod
    def open_read(self, key: str) -> BinaryIO:
        """Open ``key`` for streaming, buffered reads."""

    @abstractmethod
    def size(self, key: str) -> int:
        """The size of ``key`` in bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; raise :class:`FileNotFoundError` when it does not exist."""

    @abstractmethod
    def list_keys(self, prefix: str) -> Iterator[str]:
        """Every key under the folder ``prefix``, in sorted order."""

    @abstractmethod
    def cleanup_temporaries(self, older_than_seconds: float) -> int:
        """Remove temporaries last written more than ``older_than_seconds`` ago.

        These are left behind by writers that crashed. Returns how many were
        removed. A writer whose temporary is removed fails on publish.
        """

    def modified(self, key: str) -> float | None:
        """When ``key`` was last written or touched (POSIX seconds); None when unknown.

        Garbage collection (``kiln gc``) spares blobs younger than its grace
        period and never removes one of unknown age.
        """
        return None

    def touch(self, key: str) -> bool:
        """Make ``key``'s modified time now; False when this storage cannot.

        The store touches a blob it is asked to write again, so a writer that
        deduplicates onto an old unreferenced blob (and records it soon after)
        is covered by the grace period of ``kiln gc`` as a new blob would be.
        Must never create or change the file; a missing key raises
        :class:`FileNotFoundError`.
        """
        return False

    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"


def open_backend(location: str, **storage_options: Any) -> ArtifactBackend:
    """The backend for ``location``: a folder path or an fsspec URL.

    Plain paths and ``file://`` URLs get a
    :class:`~kiln.artifacts.LocalArtifactBackend`; any other URL
    (``memory://``, ``s3://bucket/prefix``, ``simplecache::gs://...``) gets a
    :class:`~kiln.artifacts.FsspecArtifactBackend`, which receives
    ``storage_options`` (credentials, endpoints). Nothing is touched yet.
    """
    from kiln.artifacts._fsspec import FsspecArtifactBackend
    from kiln.artifacts._local import LocalArtifactBackend

    if not location:
        raise InvalidInput("artifact store location is empty; give a folder path or an fsspec URL")
    scheme = _scheme(location)
    if scheme is not None and scheme not in _LOCAL_SCHEMES:
        return FsspecArtifactBackend(location, **storage_options)
    if storage_options:
        raise InvalidInput(
            f"storage options {sorted(storage_options)} apply to fsspec URLs, not to the "
            f"local folder {location!r}; drop them or use a URL"
        )
    return LocalArtifactBackend(_local_path(location) if scheme else Path(location).expanduser())


def _scheme(location: str) -> str | None:
    if "::" in location:  # fsspec chaining, as in "simplecache::s3://bucket"
        return location.split("::", 1)[0].split("://", 1)[0].lower()
    match = _SCHEME.match(location)
    return match.group(1).lower() if match else None


def _local_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise InvalidInput(
            f"file URL {url!r} names the host {parts.netloc!r}; only local files are "
            "supported, as in 'file:///srv/kiln/artifacts'"
        )
    # Imported here: urllib.request pulls in http and email, too slow for startup.
    from urllib.request import url2pathname

    return Path(url2pathname(parts.path))
