from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.artifacts import safe_join, validate_artifact_path
from kiln.errors import InvalidInput

REFUSED = [
    pytest.param("", id="empty"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("//host/x", id="network"),
    pytest.param("../x", id="parent"),
    pytest.param("a/../b", id="inner-parent"),
    pytest.param("a/..", id="trailing-parent"),
    pytest.param("..", id="only-parent"),
    pytest.param(".", id="only-dot"),
    pytest.param("./a", id="leading-dot"),
    pytest.param("a/./b", id="inner-dot"),
    pytest.param("a//b", id="empty-segment"),
    pytest.param("a/", id="trailing-slash"),
    pytest.param("a/%2e%2e/b", id="escaped-parent"),
    pytest.param("%2E%2E/x", id="escaped-parent-upper"),
    pytest.param("a/.%2e/b", id="half-escaped-parent"),
    pytest.param("a%2Fb", id="escaped-slash"),
    pytest.param("a%2fb", id="escaped-slash-lower"),
    pytest.param("a%5cb", id="escaped-backslash"),
    pytest.param("a/%252e%252e/b", id="double-escaped-parent"),
    pytest.param("a/%00", id="escaped-nul"),
    pytest.param("a\\..\\b", id="backslash-parent"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("x#/../y", id="fragment"),
    pytest.param("x?y=../z", id="query"),
    pytest.param("a/b\x00c", id="nul"),
    pytest.param("a/\nb", id="newline"),
    pytest.param("a\x7fb", id="delete"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("C:/windows", id="drive"),
    pytest.param("c:x", id="drive-relative"),
    pytest.param("C:\\x", id="drive-backslash"),
    pytest.param("a/C:/b", id="inner-drive"),
    pytest.param("a/\uff0e\uff0e/b", id="fullwidth-parent"),
    pytest.param("a/b\uff0fc", id="fullwidth-slash"),
    pytest.param("a/\ud800", id="lone-surrogate"),
    pytest.param("a" * 256, id="long-segment"),
]

ACCEPTED = [
    "model/model.json",
    "plots/roc curve.html",
    "a.b/c..d",
    "...",
    "a/...b",
    ".hidden/file",
    "x",
    "report%20final.html",
    "caf\u00e9/na\u00efve.txt",
    "data/2024-01-01T10:00:00.json",
    "~/x",
    "a" * 255,
]


@pytest.mark.parametrize("path", REFUSED)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_artifact_path(path)
    message = str(caught.value)
    assert repr(path) in message
    assert "relative path of '/'-separated names" in message


@pytest.mark.parametrize("path", ACCEPTED)
def test_ordinary_paths_are_accepted_unchanged(path: str) -> None:
    assert validate_artifact_path(path) == path


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        validate_artifact_path(b"model.json")  # type: ignore[arg-type]


def test_safe_join_stays_under_root(tmp_path: Path) -> None:
    joined = safe_join(tmp_path, "model/data/weights.bin")
    assert joined == tmp_path / "model" / "data" / "weights.bin"
    assert joined.resolve().is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize("path", REFUSED)
def test_safe_join_refuses_unsafe_paths(tmp_path: Path, path: str) -> None:
    with pytest.raises(InvalidInput):
        safe_join(tmp_path, path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_safe_join_refuses_escape_through_a_symlink(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(InvalidInput, match="symbolic link"):
        safe_join(root, "link/secret.txt")
    (root / "inner").mkdir()
    (root / "alias").symlink_to(root / "inner", target_is_directory=True)
    assert safe_join(root, "alias/x.txt") == root / "alias" / "x.txt"
