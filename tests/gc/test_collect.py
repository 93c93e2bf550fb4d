"""``kiln.gc.collect`` over real records on SQLite and PostgreSQL: what is kept, what goes."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

import kiln
import kiln.data
from kiln.alerts import get_alert, raise_alert
from kiln.artifacts import ArtifactStore, LocalArtifactBackend
from kiln.auth import create_project
from kiln.config import Settings
from kiln.context import Context, using_context
from kiln.db.tables import ProjectRow, StepCacheRow
from kiln.errors import Conflict
from kiln.gc import GcReport, Phase, collect
from kiln.pipelines import PipelineRun, load_output
from kiln.tracking import _artifacts
from tests.gc import _steps

FRAME = pd.DataFrame({"amount": np.arange(50, dtype=float), "kind": ["a", "b"] * 25})
OLD = 3 * 24 * 3600.0


def blob_path(store: ArtifactStore, digest: str) -> Path:
    backend = store.backend
    assert isinstance(backend, LocalArtifactBackend)
    return backend.root / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest


def age(store: ArtifactStore, digests: object, seconds: float = OLD) -> None:
    """Make blobs look written ``seconds`` ago."""
    when = time.time() - seconds
    for digest in digests:  # type: ignore[attr-defined]
        os.utime(blob_path(store, digest), (when, when))


@dataclass
class World:
    """Records of every kind, plus two orphan blobs: one old, one just written."""

    context: Context
    run_id: str
    first: PipelineRun
    nested: frozenset[str]
    report: str
    alert_id: int
    old_orphan: str
    young_orphan: str

    @property
    def store(self) -> ArtifactStore:
        return self.context.artifacts


@pytest.fixture
def world(context: Context) -> World:
    store = context.artifacts
    with using_context(context):
        with kiln.start_run(experiment="gc") as run:
            kiln.log_text("hello gc", "notes/hello.txt")
            logged = kiln.log_model(LinearRegression().fit(FRAME[["amount"]], FRAME["amount"]))
        kiln.register_model(logged, "scorer")
        kiln.data.register_dataset(FRAME, "events")
    first = _steps.training.run({"rows": 40}, context=context)
    index = json.loads(store.read_bytes(first.step("fit").outputs[0].digest))
    report = store.put_bytes(b"<html>the evidence</html>").digest
    alert = context.db.run(
        raise_alert,
        "default",
        kind="data_validation",
        severity="warning",
        title="drift",
        subject_kind="step_run",
        subject_id=f"{first.id}/prepare",
        details={},
        report_digest=report,
    )
    old_orphan = store.put_bytes(b"an orphan from long ago").digest
    age(store, store.digests())  # everything recorded so far is old too
    young_orphan = store.put_bytes(b"an orphan written a moment ago").digest
    return World(
        context=context,
        run_id=run.id,
        first=first,
        nested=frozenset(file["digest"] for file in index["files"]),
        report=report,
        alert_id=alert.id,
        old_orphan=old_orphan,
        young_orphan=young_orphan,
    )


def garbage_of(report: GcReport) -> set[str]:
    return {blob.digest for blob in report.garbage}


def assert_every_record_loads(world: World) -> None:
    context = world.context
    with using_context(context):
        pd.testing.assert_frame_equal(kiln.data.load("events@1"), FRAME)
        model = kiln.load_model("models:/scorer/1")
        assert model.predict(FRAME[["amount"]].head(2)) == pytest.approx([0.0, 1.0], abs=1e-6)
        folder = kiln.download_artifacts(world.run_id, "notes")
        assert (folder / "hello.txt").read_text() == "hello gc"
    fitted = load_output(world.first.id, "fit", context=context)
    assert fitted.predict(pd.DataFrame({"x": [0.9]})).tolist() == [1]
    prepare = world.first.step("prepare")
    assert prepare.stdout_digest is not None
    assert context.artifacts.read_bytes(prepare.stdout_digest).decode() == _steps.LONG_OUTPUT
    alert = context.db.read(get_alert, "default", world.alert_id)
    assert alert.report_digest is not None
    assert b"evidence" in context.artifacts.read_bytes(alert.report_digest)
    again = _steps.training.run({"rows": 40}, context=context)
    assert [step.cached for step in again.steps] == [True, True]


def test_a_dry_run_reports_exactly_the_orphans_and_deletes_nothing(world: World) -> None:
    before = list(world.store.digests())

    report = collect(world.context)
    everything = collect(world.context, grace=timedelta(0))

    assert report.dry_run
    assert garbage_of(report) == {world.old_orphan}
    assert {blob.digest for blob in report.young} == {world.young_orphan}
    assert garbage_of(everything) == {world.old_orphan, world.young_orphan}
    assert report.deleted == ()
    assert list(world.store.digests()) == before
    assert report.scanned == len(before)
    assert report.referenced == len(before) - 2
    assert report.garbage_bytes == len(b"an orphan from long ago")
    assert report.missing == ()
    assert report.stale_cache_entries == 0
    sources = report.references_by_source
    for source in (
        "run_artifacts.digest",
        "data_dataset_versions.blobs",
        "step_runs.outputs",
        "step_runs.stdout_digest",
        "step_cache.outputs",
        "alerts.report_digest",
        "model_versions.manifest_sha256",
    ):
        assert sources[source] > 0, source


def test_delete_removes_old_orphans_only_and_every_record_still_loads(world: World) -> None:
    report = collect(world.context, dry_run=False)

    assert report.deleted == (world.old_orphan,)
    assert report.deleted_bytes == len(b"an orphan from long ago")
    assert not world.store.exists(world.old_orphan)
    assert world.store.exists(world.young_orphan)
    assert world.nested <= set(world.store.digests())
    assert_every_record_loads(world)
    assert garbage_of(collect(world.context)) == set()


def test_blobs_named_only_inside_an_index_blob_are_kept(world: World) -> None:
    with using_context(world.context):
        logged = {artifact.digest for artifact in kiln.list_artifacts(world.run_id, "model")}
    assert world.nested
    assert not world.nested & logged  # no record names them: only the output's index does

    report = collect(world.context, dry_run=False, grace=timedelta(0))

    assert world.nested <= set(world.store.digests())
    assert set(report.deleted) == {world.old_orphan, world.young_orphan}
    assert_every_record_loads(world)


def test_a_purged_run_leaves_garbage_that_goes_once_old(world: World) -> None:
    context = world.context
    with using_context(context):
        with kiln.start_run(experiment="gc") as run:
            kiln.log_text("short-lived", "tmp.txt")
        [artifact] = [a for a in kiln.list_artifacts(run.id) if a.path == "tmp.txt"]
    from kiln.tracking._runs import purge_run

    context.db.run(purge_run, "default", run.id)

    assert artifact.digest in {blob.digest for blob in collect(context).young}
    age(world.store, [artifact.digest])
    report = collect(context, dry_run=False)
    assert set(report.deleted) == {world.old_orphan, artifact.digest}
    assert world.store.exists(world.young_orphan)


def test_writing_an_old_orphan_again_makes_it_young(world: World) -> None:
    world.store.put_bytes(b"an orphan from long ago")

    report = collect(world.context, dry_run=False)

    assert report.deleted == ()
    assert world.old_orphan in {blob.digest for blob in report.young}
    assert world.store.exists(world.old_orphan)


def test_a_record_made_while_gc_runs_keeps_its_blob(world: World) -> None:
    """The second snapshot, read just before deleting, sees records made during the scan."""
    context = world.context
    size = world.store.size(world.old_orphan)

    def progress(phase: Phase, done: int, total: int | None) -> None:
        if phase == "checking" and done == total:
            context.db.run(
                _artifacts.record_artifact,
                "default",
                world.run_id,
                "late.txt",
                world.old_orphan,
                size,
            )

    report = collect(context, dry_run=False, progress=progress)

    assert garbage_of(report) == {world.old_orphan}
    assert report.deleted == ()
    assert report.kept_at_delete == (world.old_orphan,)
    assert world.store.exists(world.old_orphan)


def test_records_of_every_project_count(world: World) -> None:
    context = world.context
    context.db.run(create_project, "other")
    other = Context(context.settings.model_copy(update={"project": "other"}))
    try:
        with using_context(other):
            with kiln.start_run(experiment="elsewhere") as run:
                kiln.log_text("another project's file", "theirs.txt")
            [theirs] = [a for a in kiln.list_artifacts(run.id) if a.path == "theirs.txt"]
    finally:
        other.close()
    age(world.store, [theirs.digest])

    report = collect(context, dry_run=False)

    assert report.deleted == (world.old_orphan,)
    assert world.store.exists(theirs.digest)


def test_missing_blobs_and_stale_cache_entries_are_reported(world: World) -> None:
    output = world.first.step("prepare").outputs[0].digest
    world.store.delete(output)

    report = collect(world.context)

    assert output in report.missing
    assert report.stale_cache_entries == 1
    again = _steps.training.run({"rows": 40}, context=world.context)
    assert [step.cached for step in again.steps] == [False, True]
    assert world.store.exists(output)


def test_an_output_whose_materializer_is_unknown_stops_the_collection(world: World) -> None:
    context = world.context
    stored = context.artifacts.put_bytes(b"stored by a materializer not installed here").digest

    def add(session: object) -> None:
        project = session.query(ProjectRow).filter_by(name="default").one()  # type: ignore[attr-defined]
        outputs = [{"digest": stored, "materializer": "nowhere", "version": "1", "type": "X"}]
        session.add(  # type: ignore[attr-defined]
            StepCacheRow(project_id=project.id, key="k" * 64, step="s", outputs=json.dumps(outputs))
        )

    context.db.run(add)
    before = set(context.artifacts.digests())

    with pytest.raises(Conflict, match="'nowhere' materializer"):
        collect(context, dry_run=False, grace=timedelta(0))
    assert set(context.artifacts.digests()) == before


def test_a_metadata_store_without_references_deletes_nothing_unless_told(
    tmp_path: Path, sqlite_url: str, world: World
) -> None:
    stray = Context(
        Settings(
            home=tmp_path / "stray-home",
            database_url=f"sqlite:///{tmp_path / 'stray.db'}",
            artifact_root=world.context.settings.resolved_artifact_root,
        )
    )
    try:
        report = collect(stray)
        assert len(report.garbage) == report.scanned - 1  # all but the young orphan
        with pytest.raises(Conflict, match="references no blob"):
            collect(stray, dry_run=False)
        assert world.store.exists(world.old_orphan)
        forced = collect(stray, dry_run=False, allow_no_references=True)
        assert len(forced.deleted) == report.scanned - 1
    finally:
        stray.close()


def test_grace_must_not_be_negative(world: World) -> None:
    with pytest.raises(kiln.InvalidInput, match="grace"):
        collect(world.context, grace=timedelta(seconds=-1))
