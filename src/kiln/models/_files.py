"""The files of a model folder: hashing them at save, verifying them at load.

Every file except ``kiln-model.yaml`` is listed in the manifest with its
SHA-256 and size. :func:`verify_folder` streams each one through SHA-256 and
refuses the folder, naming the file, when one is missing, has changed, or is
not listed at all.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from kiln.artifacts import safe_join
from kiln.errors import Conflict
from kiln.models._manifest import MANIFEST_NAME, FileEntry

__all__ = ["file_entries", "hash_file", "verify_folder"]

_CHUNK = 1 << 20


def hash_file(path: Path) -> str:
    """The SHA-256 hex digest of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _relative_files(folder: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        base = Path(root).relative_to(folder)
        for name in sorted(files):
            relative = (base / name).as_posix()
            if relative != MANIFEST_NAME:
                found.append(relative)
    return found


def file_entries(folder: Path) -> tuple[FileEntry, ...]:
    """An entry (path, sha256, size) for every file under ``folder`` but the manifest, sorted."""
    entries = []
    for relative in _relative_files(folder):
        path = folder / relative
        entries.append(FileEntry(relative, hash_file(path), path.stat().st_size))
    return tuple(entries)


def verify_folder(folder: Path, files: tuple[FileEntry, ...]) -> None:
    """Refuse ``folder`` with :class:`~kiln.errors.Conflict` unless it holds exactly ``files``."""
    listed = {entry.path for entry in files}
    for relative in _relative_files(folder):
        if relative not in listed:
            raise Conflict(
                f"model folder {str(folder)!r} holds {relative!r}, which its manifest does not "
                "list; the folder was changed after it was saved",
                field=relative,
            )
    for entry in files:
        path = safe_join(folder, entry.path)
        if path.is_symlink() or not path.is_file():
            raise Conflict(
                f"model file {entry.path!r} is missing from {str(folder)!r}; "
                "the model is incomplete",
                field=entry.path,
            )
        size = path.stat().st_size
        if size != entry.size or hash_file(path) != entry.sha256:
            raise Conflict(
                f"model file {entry.path!r} does not match the sha256 in its manifest; it was "
                "changed or corrupted after the model was saved, so it is refused",
                field=entry.path,
            )
