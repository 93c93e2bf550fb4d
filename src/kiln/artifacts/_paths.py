"""Logical artifact paths: the names users give files inside a run or model.

A logical path is a relative POSIX path such as ``model/model.json``. It comes
from user code or from a request body, so before it touches a filesystem it
must be proven harmless: it may not climb out of the folder it is joined to,
whatever the platform, the decoding layer or the Unicode normalization in
between. :func:`validate_artifact_path` says yes or no with a reason;
:func:`safe_join` turns a valid path into a location under a root folder.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from kiln.errors import InvalidInput

__all__ = ["MAX_SEGMENT_BYTES", "safe_join", "validate_artifact_path"]

#: Longest segment most filesystems accept (ext4, APFS, NTFS: 255).
MAX_SEGMENT_BYTES = 255

_ALLOWED = (
    "a relative path of '/'-separated names, such as 'model/model.json', "
    "without '.', '..' or empty segments, backslashes, '#', '?', control "
    "characters, drive letters or percent-escapes of '.', '/', '\\' or '%'"
)
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_DRIVE = re.compile(r"[A-Za-z]:")
# Characters whose escaped form could turn into structure after a later decode.
_UNSAFE_ESCAPED = frozenset("./\\%#?:")


def validate_artifact_path(path: str) -> str:
    """Return ``path`` if it is a safe relative artifact path; refuse it otherwise.

    The rules leave one spelling per path, so a valid path is already in
    normal form and is returned unchanged. Refused with
    :class:`~kiln.errors.InvalidInput`: empty paths, absolute and network
    paths (``/etc/passwd``, ``//host/x``), ``.``, ``..`` and empty segments,
    backslashes, ``#`` and ``?``, NUL and other control characters, Windows
    drive letters (``C:``), percent-escapes that decode to ``.``, ``/``,
    ``\\``, ``%``, ``#``, ``?``, ``:`` or a control character, segments that
    Unicode compatibility normalization (NFKC) would turn into ``..`` or a
    separator, and segments longer than :data:`MAX_SEGMENT_BYTES` bytes.
    """
    if not isinstance(path, str):
        raise InvalidInput(f"artifact path must be a string, got {type(path).__name__}")
    problem = _problem(path)
    if problem is not None:
        raise InvalidInput(f"unsafe artifact path {path!r}: {problem}; use {_ALLOWED}")
    return path


def safe_join(root: Path, logical_path: str) -> Path:
    """``root`` joined with a validated ``logical_path``, guaranteed to stay under ``root``.

    Besides the rules of :func:`validate_artifact_path`, symbolic links that
    already exist under ``root`` are followed, and a path that would leave
    ``root`` through one is refused with :class:`~kiln.errors.InvalidInput`.
    """
    relative = validate_artifact_path(logical_path)
    joined = root.joinpath(*relative.split("/"))
    real_root = root.resolve()
    if not joined.resolve().is_relative_to(real_root):
        raise InvalidInput(
            f"unsafe artifact path {logical_path!r}: it leaves {str(root)!r} "
            "through a symbolic link; remove the link or choose another path"
        )
    return joined


def _problem(path: str) -> str | None:
    if not path:
        return "it is empty"
    if path.startswith("/"):
        return "it is absolute"
    for char in path:
        if _is_control(char):
            return f"it contains the control character {char!r}"
        if unicodedata.category(char) == "Cs":
            return f"it contains the lone surrogate {char!r}"
    for char, what in (("\\", "a backslash"), ("#", "a '#'"), ("?", "a '?'")):
        if char in path:
            return f"it contains {what}"
    for match in _ESCAPE.finditer(path):
        decoded = chr(int(match.group(1), 16))
        if decoded in _UNSAFE_ESCAPED or _is_control(decoded):
            return f"it contains the percent-escape {match.group(0)!r} of {decoded!r}"
    for segment in path.split("/"):
        problem = _segment_problem(segment)
        if problem is not None:
            return problem
    return None


def _segment_problem(segment: str) -> str | None:
    if segment == "":
        return "it has an empty segment"
    if segment in (".", ".."):
        return f"it has a {segment!r} segment"
    if _DRIVE.match(segment):
        return f"it has the drive letter {segment[:2]!r}"
    # A later layer may decode escapes or fold compatibility characters (the
    # fullwidth full stop U+FF0E, the fullwidth solidus U+FF0F); judge the
    # segment as such a layer would see it.
    folded = unicodedata.normalize("NFKC", unquote(segment))
    if folded in (".", "..") or any(sep in folded for sep in "/\\"):
        return f"the segment {segment!r} reads as {folded!r} once decoded or normalized"
    if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
        return f"a segment is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) == "Cc"
