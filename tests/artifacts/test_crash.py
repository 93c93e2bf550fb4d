"""Crash safety and multi-process writers, with real processes on a local store."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import kiln
from kiln.artifacts import ArtifactStore

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="uses SIGKILL")

SRC = str(Path(kiln.__file__).resolve().parents[1])

SLOW_WRITER = textwrap.dedent(
    """
    import sys, time
    from kiln.artifacts import ArtifactStore

    class EndlessSlowReader:
        def read(self, size=-1, /):
            time.sleep(0.005)
            return b"k" * 65536

    ArtifactStore.from_location(sys.argv[1]).put_stream(EndlessSlowReader())
    """
)

RACING_WRITER = textwrap.dedent(
    """
    import hashlib, json, os, sys, time
    from kiln.artifacts import ArtifactStore

    class Pieces:
        def __init__(self, count):
            self.i = 0
            self.count = count

        def read(self, size=-1, /):
            if self.i == self.count:
                return b""
            self.i += 1
            return hashlib.sha256(str(self.i).encode()).digest() * 2048

    store = ArtifactStore.from_location(sys.argv[1])
    print("ready", flush=True)
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.001)
    blob = store.put_stream(Pieces(int(sys.argv[3])))
    print(json.dumps([blob.digest, blob.size]), flush=True)
    """
)


def run_python(code: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_growing_temporary(folder: Path, process: subprocess.Popen[str]) -> Path:
    deadline = time.monotonic() + 60
    previous = -1
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        parts = list(folder.glob("*.part")) if folder.is_dir() else []
        if parts:
            size = parts[0].stat().st_size
            if size > 512 * 1024 and previous > 0 and size > previous:
                return parts[0]
            previous = size
        time.sleep(0.05)
    pytest.fail("the writer never produced a growing temporary file")


def test_killed_writer_leaves_no_blob_and_a_removable_temporary(tmp_path: Path) -> None:
    root = tmp_path / "store"
    writer = run_python(SLOW_WRITER, str(root))
    try:
        temporary = wait_for_growing_temporary(root / "tmp", writer)
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.communicate()
    assert writer.returncode == -signal.SIGKILL

    store = ArtifactStore.from_location(str(root))
    assert list(store.digests()) == []
    assert [p for p in root.joinpath("blobs").rglob("*") if p.is_file()] == []
    assert temporary.exists()
    assert store.cleanup_temporaries(3600) == 0
    assert store.cleanup_temporaries(0) == 1
    assert not temporary.exists()
    assert list((root / "tmp").iterdir()) == []


def test_processes_writing_the_same_blob_end_with_one_correct_blob(tmp_path: Path) -> None:
    root = tmp_path / "store"
    go = tmp_path / "go"
    pieces = 256  # 64 KiB each: 16 MiB
    expected = hashlib.sha256()
    for i in range(1, pieces + 1):
        expected.update(hashlib.sha256(str(i).encode()).digest() * 2048)
    writers = [run_python(RACING_WRITER, str(root), str(go), str(pieces)) for _ in range(4)]
    try:
        for writer in writers:
            assert writer.stdout is not None
            assert writer.stdout.readline().strip() == "ready", writer.communicate()[1]
        go.touch()
        results = []
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()

    digest = expected.hexdigest()
    assert results == [[digest, pieces * 65536]] * len(writers)
    store = ArtifactStore.from_location(str(root))
    assert list(store.digests()) == [digest]
    hasher = hashlib.sha256()
    with store.open(digest) as file:
        while chunk := file.read(1 << 20):
            hasher.update(chunk)
    assert hasher.hexdigest() == digest
    assert store.size(digest) == pieces * 65536
    assert list((root / "tmp").iterdir()) == []
