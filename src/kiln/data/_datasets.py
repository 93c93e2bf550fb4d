"""Datasets and versions in the metadata store: plain functions taking a Session first.

A version row is only ever written after its blobs are in the artifact store
(``kiln.data._service`` does that part), so a crash in between leaves an
unreferenced blob, never a version without data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.auth import project_id
from kiln.data._entities import Dataset, DatasetVersion, Field, StoredBlob
from kiln.data._names import VersionRef, check_dataset_name, parse_ref
from kiln.db import utcnow
from kiln.db.tables import DatasetVersionRow, ProjectRow, VersionedDatasetRow
from kiln.errors import InvalidInput, NotFound
from kiln.lineage import Node, flag_superseded

#: How many names an error message lists before it says "and N more".
_LISTED = 10


@dataclass(frozen=True)
class NewVersion:
    """What a new version row records; its blobs are stored already."""

    content_hash: str
    schema: tuple[Field, ...]
    num_rows: int
    source_type: str
    source: str
    blobs: tuple[StoredBlob, ...]


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def dataset_row(
    session: Session, project: str, name: str, *, lock: bool = False
) -> VersionedDatasetRow:
    """The dataset's row, or ``NotFound`` naming the datasets the project has."""
    query = (
        select(VersionedDatasetRow)
        .join(ProjectRow, ProjectRow.id == VersionedDatasetRow.project_id)
        .where(ProjectRow.name == project, VersionedDatasetRow.name == name)
    )
    row = session.scalar(query.with_for_update() if lock else query)
    if row is not None:
        return row
    project_id(session, project)  # NotFound for an unknown project
    names = list(
        session.scalars(
            select(VersionedDatasetRow.name)
            .join(ProjectRow, ProjectRow.id == VersionedDatasetRow.project_id)
            .where(ProjectRow.name == project)
            .order_by(VersionedDatasetRow.name)
        )
    )
    known = (
        f"its datasets are {_listing(names)}"
        if names
        else "it has none yet; register one with kiln.data.register_dataset(data, name)"
    )
    raise NotFound(f"no dataset {name!r} in project {project!r}; {known}", field="name")


def to_version(name: str, row: DatasetVersionRow) -> DatasetVersion:
    return DatasetVersion(
        name=name,
        version=row.version,
        version_id=row.content_hash,
        schema=tuple(Field(**field) for field in json.loads(row.schema)),
        num_rows=row.num_rows,
        num_bytes=row.num_bytes,
        source_type=row.source_type,
        source=row.source,
        blobs=tuple(StoredBlob(**blob) for blob in json.loads(row.blobs)),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _to_dataset(project: str, row: VersionedDatasetRow, latest: int | None) -> Dataset:
    return Dataset(
        name=row.name,
        project=project,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        latest_version=latest,
    )


def _latest_numbers(session: Session, dataset_ids: list[int]) -> dict[int, int]:
    if not dataset_ids:
        return {}
    rows = session.execute(
        select(DatasetVersionRow.dataset_id, func.max(DatasetVersionRow.version))
        .where(DatasetVersionRow.dataset_id.in_(dataset_ids))
        .group_by(DatasetVersionRow.dataset_id)
    )
    return {dataset_id: number for dataset_id, number in rows}  # noqa: C416 (Rows, not pairs)


def find_version(
    session: Session, project: str, name: str, content_hash: str
) -> DatasetVersion | None:
    """The version of ``name`` with this content, if the dataset and version exist.

    ``NotFound`` when the project does not exist, so nothing gets stored for it.
    """
    row = session.scalar(
        select(DatasetVersionRow)
        .join(VersionedDatasetRow, VersionedDatasetRow.id == DatasetVersionRow.dataset_id)
        .join(ProjectRow, ProjectRow.id == VersionedDatasetRow.project_id)
        .where(
            ProjectRow.name == project,
            VersionedDatasetRow.name == name,
            DatasetVersionRow.content_hash == content_hash,
        )
    )
    if row is not None:
        return to_version(name, row)
    project_id(session, project)
    return None


def _ensure_dataset(
    session: Session, project: str, name: str, description: str
) -> VersionedDatasetRow:
    """The dataset's row, locked, created first when missing (safe against racing creators)."""
    try:
        return dataset_row(session, project, name, lock=True)
    except NotFound:
        pass
    row = VersionedDatasetRow(
        project_id=project_id(session, project), name=name, description=description
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:  # created meanwhile by a transaction that has committed
        return dataset_row(session, project, name, lock=True)
    return row


def create_version(
    session: Session,
    project: str,
    name: str,
    new: NewVersion,
    *,
    description: str = "",
    created_by: str = "",
) -> tuple[DatasetVersion, bool]:
    """Record a version whose blobs are stored; ``(version, created)``.

    The dataset is created when missing. Content the dataset holds already
    returns that version with ``created`` False and writes nothing: the
    content hash is the version's identity.
    """
    check_dataset_name(name)
    dataset = _ensure_dataset(session, project, name, description)
    if description and dataset.description != description:
        dataset.description = description
        dataset.updated_at = utcnow()
    existing = session.scalar(
        select(DatasetVersionRow).where(
            DatasetVersionRow.dataset_id == dataset.id,
            DatasetVersionRow.content_hash == new.content_hash,
        )
    )
    if existing is not None:
        session.flush()
        return to_version(name, existing), False
    # The UPDATE locks the dataset's row, so concurrent registrations get consecutive numbers.
    number: int = (
        session.connection()
        .execute(
            update(VersionedDatasetRow)
            .where(VersionedDatasetRow.id == dataset.id)
            .values(last_version=VersionedDatasetRow.last_version + 1, updated_at=utcnow())
            .returning(VersionedDatasetRow.last_version)
        )
        .scalar_one()
    )
    previous = session.scalar(
        select(DatasetVersionRow.content_hash).where(
            DatasetVersionRow.dataset_id == dataset.id, DatasetVersionRow.version == number - 1
        )
    )
    row = DatasetVersionRow(
        dataset_id=dataset.id,
        version=number,
        content_hash=new.content_hash,
        schema=json.dumps([field.to_dict() for field in new.schema]),
        num_rows=new.num_rows,
        num_columns=len(new.schema),
        num_bytes=sum(blob.size for blob in new.blobs),
        source_type=new.source_type,
        source=new.source,
        blobs=json.dumps([blob.to_dict() for blob in new.blobs]),
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    if previous is not None:
        flag_superseded(
            session,
            dataset.project_id,
            Node.dataset_version(previous),
            Node.dataset_version(new.content_hash),
            f"dataset {name!r} has a newer version: {name}@{number}",
        )
    return to_version(name, row), True


def get_dataset(session: Session, project: str, name: str) -> Dataset:
    row = dataset_row(session, project, name)
    return _to_dataset(project, row, _latest_numbers(session, [row.id]).get(row.id))


def list_datasets(session: Session, project: str) -> list[Dataset]:
    """Every dataset of the project, by name."""
    rows = list(
        session.scalars(
            select(VersionedDatasetRow)
            .join(ProjectRow, ProjectRow.id == VersionedDatasetRow.project_id)
            .where(ProjectRow.name == project)
            .order_by(VersionedDatasetRow.name)
        )
    )
    latest = _latest_numbers(session, [row.id for row in rows])
    return [_to_dataset(project, row, latest.get(row.id)) for row in rows]


def list_versions(session: Session, project: str, name: str) -> list[DatasetVersion]:
    """The dataset's versions, newest first."""
    dataset = dataset_row(session, project, name)
    rows = session.scalars(
        select(DatasetVersionRow)
        .where(DatasetVersionRow.dataset_id == dataset.id)
        .order_by(DatasetVersionRow.version.desc())
    )
    return [to_version(name, row) for row in rows]


def version_rows(
    session: Session, project: str, ref: str | VersionRef
) -> tuple[VersionedDatasetRow, DatasetVersionRow]:
    """The dataset and version rows ``ref`` names; ``NotFound`` lists the versions there are."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    dataset = dataset_row(session, project, parsed.name)
    query = select(DatasetVersionRow).where(DatasetVersionRow.dataset_id == dataset.id)
    if parsed.number is not None:
        rows = list(session.scalars(query.where(DatasetVersionRow.version == parsed.number)))
    elif parsed.hash_prefix is not None:
        rows = list(
            session.scalars(
                query.where(DatasetVersionRow.content_hash.startswith(parsed.hash_prefix))
                .order_by(DatasetVersionRow.version)
                .limit(_LISTED)
            )
        )
        if len(rows) > 1:
            numbers = ", ".join(str(row.version) for row in rows)
            raise InvalidInput(
                f"{str(parsed)!r} is ambiguous: versions {numbers} of dataset {parsed.name!r} "
                "have ids starting so; give more characters",
                field="ref",
            )
    else:
        rows = list(session.scalars(query.order_by(DatasetVersionRow.version.desc()).limit(1)))
    if rows:
        return dataset, rows[0]
    raise NotFound(_missing_version(session, dataset, parsed), field="ref")


def _missing_version(session: Session, dataset: VersionedDatasetRow, ref: VersionRef) -> str:
    numbers = list(
        session.scalars(
            select(DatasetVersionRow.version)
            .where(DatasetVersionRow.dataset_id == dataset.id)
            .order_by(DatasetVersionRow.version)
        )
    )
    if not numbers:
        return f"dataset {ref.name!r} has no versions; register one with register_dataset"
    listed = [str(number) for number in numbers]
    shown = (
        ", ".join(listed)
        if len(listed) <= _LISTED
        else f"{', '.join(listed[:3])}, …, {', '.join(listed[-3:])} ({len(listed)} in all)"
    )
    wanted = f"version {ref.number}" if ref.number is not None else f"a version {ref.hash_prefix}…"
    return (
        f"dataset {ref.name!r} has no {wanted}; its versions are {shown} "
        f"(latest: {ref.name}@{numbers[-1]})"
    )


def get_version(session: Session, project: str, ref: str | VersionRef) -> DatasetVersion:
    """The version ``ref`` names: ``name``, ``name@latest``, ``name@3`` or ``name@<id prefix>``."""
    dataset, row = version_rows(session, project, ref)
    return to_version(dataset.name, row)
