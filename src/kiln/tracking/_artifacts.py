"""Run artifacts: logical paths of a run mapped to blobs of the artifact store.

The bytes live once in the content-addressed store; this table says which
file of which run they are. Uploading is the caller's job (the SDK streams the
file into ``ArtifactStore`` first), so a crash between the two leaves at most
an unreferenced blob, never a record pointing at nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from kiln.artifacts import validate_artifact_path
from kiln.db import utcnow
from kiln.db.tables import RunArtifactRow
from kiln.errors import Conflict, InvalidInput, NotFound
from kiln.tracking._entities import LifecycleStage, RunArtifact
from kiln.tracking._runs import run_row
from kiln.tracking._upsert import insert_for


def record_artifacts(
    session: Session, project: str, run_id: str, files: Sequence[RunArtifact]
) -> list[RunArtifact]:
    """Point paths of a run at stored blobs (replacing what the paths held before)."""
    row = run_row(session, project, run_id)
    if row.lifecycle_stage != LifecycleStage.ACTIVE.value:
        raise Conflict(f"run {run_id} is deleted: restore it before logging artifacts")
    for file in files:
        validate_artifact_path(file.path)
        if len(file.path) > 1024:
            raise InvalidInput(
                f"artifact path is {len(file.path)} characters; the limit is 1024", field="path"
            )
    table = RunArtifactRow.__table__
    upsert = insert_for(session, table)
    now = utcnow()
    session.execute(
        upsert.on_conflict_do_update(
            index_elements=[table.c.run_id, table.c.path],
            set_={
                "digest": upsert.excluded.digest,
                "size": upsert.excluded.size,
                "created_at": upsert.excluded.created_at,
            },
        ),
        [
            {
                "run_id": run_id,
                "path": f.path,
                "digest": f.digest,
                "size": f.size,
                "created_at": now,
            }
            for f in files
        ],
    )
    return list(files)


def record_artifact(
    session: Session, project: str, run_id: str, path: str, digest: str, size: int
) -> RunArtifact:
    """Point one path of a run at a stored blob."""
    return record_artifacts(session, project, run_id, [RunArtifact(path, digest, size)])[0]


def list_artifacts(
    session: Session, project: str, run_id: str, prefix: str = ""
) -> list[RunArtifact]:
    """A run's files under ``prefix`` (a folder path, or "" for all), sorted by path."""
    run_row(session, project, run_id)
    query = select(RunArtifactRow).where(RunArtifactRow.run_id == run_id)
    if prefix:
        folder = validate_artifact_path(prefix.rstrip("/"))
        query = query.where(
            (RunArtifactRow.path == folder)
            | RunArtifactRow.path.startswith(f"{folder}/", autoescape=True)
        )
    return [
        RunArtifact(path=row.path, digest=row.digest, size=row.size)
        for row in session.scalars(query.order_by(RunArtifactRow.path))
    ]


def get_artifact(session: Session, project: str, run_id: str, path: str) -> RunArtifact:
    run_row(session, project, run_id)
    row = session.get(RunArtifactRow, (run_id, validate_artifact_path(path)))
    if row is None:
        raise NotFound(f"run {run_id} has no artifact {path!r}")
    return RunArtifact(path=row.path, digest=row.digest, size=row.size)


def forget_artifacts(session: Session, project: str, run_id: str, path: str) -> int:
    """Remove a run's file, or every file under a folder; return how many.

    The blobs stay in the content-addressed store (other records may share them).
    """
    from sqlalchemy import delete

    run_row(session, project, run_id)
    path = validate_artifact_path(path.rstrip("/")) if path else ""
    query = delete(RunArtifactRow).where(RunArtifactRow.run_id == run_id)
    if path:
        query = query.where(
            (RunArtifactRow.path == path)
            | RunArtifactRow.path.startswith(f"{path}/", autoescape=True)
        )
    removed: int = session.execute(query).rowcount  # type: ignore[attr-defined]
    if removed == 0:
        raise NotFound(f"run {run_id} has no artifact at {path!r}")
    return removed
