"""``FsspecArtifactBackend``: the artifact backend for any fsspec URL.

The temporary is written under ``<root>/tmp/`` and then moved to its key. On
object stores (S3, GCS, Azure) a file being written is not visible until it
is closed, and the move is a server-side copy that creates the final object
in one step, so readers see all of a blob or none of it. fsspec is imported
when the backend is first used, never at import time.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cached_property
from typing import Any, BinaryIO, cast

from kiln.artifacts._backend import ArtifactBackend
from kiln.errors import InvalidInput

__all__ = ["FsspecArtifactBackend"]

TEMPORARY_SUFFIX = ".part"
_TMP = "tmp"


class FsspecArtifactBackend(ArtifactBackend):
    """Blobs under an fsspec URL such as ``s3://bucket/kiln`` or ``memory://tests``.

    ``storage_options`` go to the fsspec filesystem (credentials, endpoint).
    Each backend gets its own filesystem instance rather than fsspec's shared
    cached one, so two stores never share hidden state.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        self.url = url
        self.storage_options = storage_options

    @property
    def location(self) -> str:
        from kiln.config import mask_url

        return mask_url(self.url)

    def write_temporary(self, chunks: Iterable[bytes]) -> str:
        name = secrets.token_hex(16) + TEMPORARY_SUFFIX
        path = self._path(f"{_TMP}/{name}")
        try:
            with self._open_for_write(path) as file:
                for chunk in chunks:
                    file.write(chunk)
        except BaseException:
            with contextlib.suppress(OSError):
                self._fs.rm_file(path)
            raise
        return name

    def publish(self, temporary: str, key: str) -> bool:
        source = self._path(f"{_TMP}/{temporary}")
        target = self._path(key)
        fs = self._fs
        if fs.exists(target):
            fs.rm_file(source)
            return False
        try:
            fs.mv(source, target)
        except FileNotFoundError:
            # Filesystems with real folders (local, SFTP) need the parent first.
            fs.makedirs(_parent(target), exist_ok=True)
            fs.mv(source, target)
        return True

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        if self._is_memory:
            # fsspec's memory filesystem hands every reader the same file object
            # (one shared position); give each reader its own. The bytes are in
            # memory already, so nothing is lost by copying them.
            return io.BytesIO(self._fs.cat_file(path))
        return cast(BinaryIO, self._fs.open(path, "rb"))

    def size(self, key: str) -> int:
        return int(self._fs.size(self._path(key)))

    def exists(self, key: str) -> bool:
        return bool(self._fs.exists(self._path(key)))

    def modified(self, key: str) -> float | None:
        path = self._path(key)
        return _modified(self._fs, path, self._fs.info(path))

    # No touch(): fsspec's touch(truncate=False) creates an empty file when the
    # key has just gone, which would be a blob whose bytes do not match its name.

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Object stores delete missing keys without complaint; the contract wants one.
        if not self._fs.exists(path):
            raise FileNotFoundError(path)
        self._fs.rm_file(path)

    def list_keys(self, prefix: str) -> Iterator[str]:
        # One recursive listing: on object stores that is a few paged requests,
        # where walking the fan-out folders one by one would be thousands.
        try:
            found = self._fs.find(self._path(prefix))
        except FileNotFoundError:
            return
        start = len(self._root) + 1 if self._root else 0
        for path in sorted(found):
            yield path[start:]

    def cleanup_temporaries(self, older_than_seconds: float) -> int:
        fs = self._fs
        try:
            entries = fs.ls(self._path(_TMP), detail=True)
        except FileNotFoundError:
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in entries:
            path = entry["name"]
            if entry.get("type") != "file" or not path.endswith(TEMPORARY_SUFFIX):
                continue
            try:
                modified = _modified(fs, path, entry)
            except FileNotFoundError:  # published or removed by someone else meanwhile
                continue
            if modified is None and older_than_seconds > 0:
                continue  # age unknown: only an explicit "remove all" may touch it
            if modified is None or modified <= cutoff:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm_file(path)
                    removed += 1
        return removed

    @cached_property
    def _fs_and_root(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        options = {"skip_instance_cache": True, **self.storage_options}
        try:
            fs, root = url_to_fs(self.url, **options)
        except ImportError as exc:
            raise InvalidInput(
                f"cannot open the artifact store {self.location!r}: {exc} "
                "(the fsspec implementation for this URL is a separate package)"
            ) from exc
        except ValueError as exc:
            raise InvalidInput(
                f"cannot open the artifact store {self.location!r}: {exc}; "
                "use a folder path or a URL of an installed fsspec filesystem"
            ) from exc
        return fs, str(root).rstrip("/")

    @property
    def _fs(self) -> Any:
        return self._fs_and_root[0]

    @property
    def _root(self) -> str:
        return self._fs_and_root[1]

    @property
    def _is_memory(self) -> bool:
        protocol = self._fs.protocol
        return "memory" in (protocol if isinstance(protocol, tuple) else (protocol,))

    def _path(self, key: str) -> str:
        return f"{self._root}/{key}" if self._root else key

    def _open_for_write(self, path: str) -> Any:
        try:
            return self._fs.open(path, "wb")
        except FileNotFoundError:
            self._fs.makedirs(_parent(path), exist_ok=True)
            return self._fs.open(path, "wb")


def _modified(fs: Any, path: str, entry: dict[str, Any]) -> float | None:
    """When ``path`` was last written, as a POSIX timestamp, if the filesystem says."""
    try:
        return float(fs.modified(path).timestamp())
    except (NotImplementedError, AttributeError):
        pass
    for field in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(field)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
    return None


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""
