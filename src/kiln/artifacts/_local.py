"""``LocalArtifactBackend``: the artifact backend for a folder on this machine.

Crash safety comes from the order of operations. Bytes go to a new file in
``<root>/tmp/`` (same filesystem as the blobs, so the final rename cannot turn
into a copy), are flushed and fsynced, and only then is the file renamed into
place with :func:`os.replace` and the folder holding it fsynced. A crash at
any point leaves either no blob or the whole blob, plus perhaps a stray
temporary that :meth:`LocalArtifactBackend.cleanup_temporaries` removes.
"""

from __future__ import annotations

import errno
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from kiln.artifacts._backend import ArtifactBackend

__all__ = ["LocalArtifactBackend", "fsync_directory"]

TEMPORARY_SUFFIX = ".part"
_TMP = "tmp"
# O_BINARY only exists (and only matters) on Windows.
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


class LocalArtifactBackend(ArtifactBackend):
    """Blobs as plain files under ``root``, written with temporary file + rename.

    The folder is created on the first write, not by the constructor.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def location(self) -> str:
        return str(self.root)

    def write_temporary(self, chunks: Iterable[bytes]) -> str:
        folder = self.root / _TMP
        _makedirs_durably(folder)
        name = secrets.token_hex(16) + TEMPORARY_SUFFIX
        path = folder / name
        # 0o644 before the umask: blobs are read by other users of the store.
        descriptor = os.open(path, _CREATE_FLAGS, 0o644)
        try:
            with open(descriptor, "wb") as file:
                for chunk in chunks:
                    file.write(chunk)
                file.flush()
                os.fsync(file.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return name

    def publish(self, temporary: str, key: str) -> bool:
        source = self.root / _TMP / temporary
        target = self._path(key)
        if target.exists():
            source.unlink()
            return False
        _makedirs_durably(target.parent)
        # Two writers of the same content may both get here; the second
        # replace swaps one complete, identical file for another.
        os.replace(source, target)
        fsync_directory(target.parent)
        return True

    def open_read(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def modified(self, key: str) -> float | None:
        return self._path(key).stat().st_mtime

    def touch(self, key: str) -> bool:
        try:
            os.utime(self._path(key))
        except PermissionError:  # a blob another user of a shared folder wrote
            return False
        return True

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink()
        fsync_directory(path.parent)

    def list_keys(self, prefix: str) -> Iterator[str]:
        top = self._path(prefix)
        for folder, subfolders, files in os.walk(top):
            subfolders.sort()
            relative = Path(folder).relative_to(self.root).as_posix()
            for name in sorted(files):
                yield f"{relative}/{name}"

    def cleanup_temporaries(self, older_than_seconds: float) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        try:
            entries = list(os.scandir(self.root / _TMP))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if not entry.name.endswith(TEMPORARY_SUFFIX):
                continue
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:  # published or removed by someone else meanwhile
                continue
        return removed

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))


def fsync_directory(folder: Path) -> None:
    """Make the entries of ``folder`` (a rename, a new file) durable."""
    if os.name == "nt":  # folders cannot be opened for fsync; NTFS journals renames
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    except OSError as exc:
        # Some filesystems (certain network and FUSE mounts) refuse fsync on a
        # folder; there is nothing more we can do there.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(descriptor)


def _makedirs_durably(folder: Path) -> None:
    if folder.is_dir():
        return
    missing = []
    current = folder
    while not current.is_dir() and current.parent != current:
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:  # another writer made it first
            continue
        fsync_directory(path.parent)
