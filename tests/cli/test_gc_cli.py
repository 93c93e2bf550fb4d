"""``kiln gc``: a dry run by default, ``--delete`` removes, ``--json`` for scripts."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from kiln.artifacts import ArtifactStore, LocalArtifactBackend
from kiln.cli.gc import parse_duration
from kiln.config import Settings
from kiln.context import Context
from kiln.errors import InvalidInput
from kiln.tracking import _artifacts, _experiments, _runs
from tests.cli.test_cli import Run, as_json, assert_error, make_runner


def _age(store: ArtifactStore, digest: str, seconds: float) -> None:
    assert isinstance(store.backend, LocalArtifactBackend)
    path = store.backend.root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    when = time.time() - seconds
    os.utime(path, (when, when))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "kiln-home"


@pytest.fixture
def blobs(home: Path) -> dict[str, str]:
    """A referenced blob (a run's file), an orphan two days old and one an hour old."""
    kiln = Context(Settings.load(home=home))
    try:
        store = kiln.artifacts
        kept = store.put_bytes(b"a file of a run")
        experiment = kiln.db.run(_experiments.create_experiment, "default", "gc")
        run = kiln.db.run(_runs.create_run, "default", experiment.id)
        kiln.db.run(
            _artifacts.record_artifact, "default", run.id, "file.txt", kept.digest, kept.size
        )
        old = store.put_bytes(b"forgotten two days ago").digest
        young = store.put_bytes(b"written an hour ago").digest
        for digest, seconds in ((kept.digest, 4 * 86400), (old, 2 * 86400), (young, 3600)):
            _age(store, digest, seconds)
        return {
            "kept": kept.digest,
            "old": old,
            "young": young,
            "root": str(store.backend.location),
        }
    finally:
        kiln.close()


@pytest.fixture
def run(home: Path) -> Run:
    return make_runner(home)


def _stored(blobs: dict[str, str]) -> set[str]:
    return set(ArtifactStore.from_location(blobs["root"]).digests())


def test_a_dry_run_lists_the_garbage_and_removes_nothing(run: Run, blobs: dict[str, str]) -> None:
    out = run("gc").stdout

    assert "dry run: would free 22 B" in out
    assert blobs["old"] in out
    assert blobs["young"] not in out
    assert blobs["kept"] not in out
    assert _stored(blobs) == {blobs["kept"], blobs["old"], blobs["young"]}


def test_json_reports_counts_bytes_and_digests(run: Run, blobs: dict[str, str]) -> None:
    report = as_json(run("gc", "--grace", "30m", "--json"))

    assert report["dry_run"] is True
    assert report["grace_seconds"] == 1800
    assert report["scanned"] == 3
    assert report["referenced"] == 1
    assert report["garbage"] == {"count": 2, "bytes": 22 + 19}
    assert {blob["digest"] for blob in report["garbage_blobs"]} == {blobs["old"], blobs["young"]}
    assert report["deleted"] == {"count": 0, "bytes": 0}


def test_delete_removes_only_garbage_older_than_the_grace(run: Run, blobs: dict[str, str]) -> None:
    out = run("gc", "--delete").stdout

    assert "freed 22 B" in out
    assert _stored(blobs) == {blobs["kept"], blobs["young"]}
    report = as_json(run("gc", "--delete", "--grace", "1m", "--json"))
    assert report["deleted_digests"] == [blobs["young"]]
    assert _stored(blobs) == {blobs["kept"]}


def test_a_bad_grace_is_refused(run: Run, blobs: dict[str, str]) -> None:
    assert_error(run("gc", "--grace", "soon", code=6), "cannot read the duration 'soon'")


def test_durations() -> None:
    assert parse_duration("24h") == timedelta(hours=24)
    assert parse_duration("90s") == parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("1.5d") == timedelta(hours=36)
    assert parse_duration(" 2W ") == timedelta(weeks=2)
    assert parse_duration("0") == timedelta(0)
    with pytest.raises(InvalidInput, match="-1h"):
        parse_duration("-1h")
