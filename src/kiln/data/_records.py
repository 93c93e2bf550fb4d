"""Profiles and validation results in the metadata store: plain functions taking a Session first."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kiln.data._datasets import dataset_row, to_version, version_rows
from kiln.data._entities import DatasetVersion
from kiln.data._names import VersionRef
from kiln.data._profile import Profile
from kiln.data._report import LEARNABLE, ValidationReport
from kiln.data._schema import Schema
from kiln.db.tables import DatasetProfileRow, DatasetValidationRow
from kiln.errors import NotFound

#: At most this many recorded validations are read to learn thresholds (windows cap here).
HISTORY_LIMIT = 200


@dataclass(frozen=True, slots=True)
class VersionKey:
    """A stored version with the row ids its profiles and validations refer to."""

    version: DatasetVersion
    dataset_id: int
    row_id: int


def version_key(session: Session, project: str, ref: str | VersionRef) -> VersionKey:
    dataset, row = version_rows(session, project, ref)
    return VersionKey(to_version(dataset.name, row), dataset.id, row.id)


def dataset_id(session: Session, project: str, name: str) -> int | None:
    """The dataset's row id, or None when the project has no such dataset."""
    try:
        return dataset_row(session, project, name).id
    except NotFound:
        return None


def load_profile(session: Session, version_row_id: int, bins: int, top_k: int) -> Profile | None:
    row = session.get(DatasetProfileRow, (version_row_id, bins, top_k))
    return None if row is None else Profile.from_dict(json.loads(row.profile))


def save_profile(session: Session, version_row_id: int, profile: Profile) -> None:
    """Keep the profile of a version (a concurrent writer's equal profile wins quietly)."""
    row = DatasetProfileRow(
        version_id=version_row_id,
        bins=profile.bins,
        top_k=profile.top_k,
        profile=json.dumps(profile.to_dict()),
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        pass


def record_validation(
    session: Session,
    key: VersionKey,
    reference_row_id: int | None,
    schema: Schema,
    report: ValidationReport,
    *,
    created_by: str = "",
) -> int:
    """Store a validation of a stored version; returns the record's id."""
    row = DatasetValidationRow(
        dataset_id=key.dataset_id,
        version_id=key.row_id,
        reference_version_id=reference_row_id,
        schema=json.dumps(schema.to_dict()),
        report=json.dumps(report.to_dict()),
        passed=report.passed,
        created_at=report.created_at,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row.id


def observation_history(
    session: Session, dataset: int, *, exclude_version_row_id: int | None
) -> dict[tuple[str, str | None], list[float]]:
    """What each learnable check observed in the dataset's passed validations, oldest first.

    One validation per version counts (its newest), and never one of the
    version being validated.
    """
    query = (
        select(DatasetValidationRow.version_id, DatasetValidationRow.report)
        .where(DatasetValidationRow.dataset_id == dataset, DatasetValidationRow.passed.is_(True))
        .order_by(DatasetValidationRow.id.desc())
        .limit(HISTORY_LIMIT)
    )
    if exclude_version_row_id is not None:
        query = query.where(DatasetValidationRow.version_id != exclude_version_row_id)
    seen: set[int] = set()
    reports: list[str] = []
    for version_id, report in session.execute(query):
        if version_id not in seen:
            seen.add(version_id)
            reports.append(report)
    history: dict[tuple[str, str | None], list[float]] = {}
    for report in reversed(reports):
        for check in json.loads(report)["checks"]:
            observed = check.get("observed")
            if check["name"] in LEARNABLE and isinstance(observed, int | float):
                history.setdefault((check["name"], check.get("column")), []).append(float(observed))
    return history


def list_validations(
    session: Session, project: str, ref: str | VersionRef
) -> list[ValidationReport]:
    """Recorded validations of a dataset (``name``) or one version (``name@3``), newest first."""
    query = select(DatasetValidationRow.id, DatasetValidationRow.report)
    if isinstance(ref, str) and "@" not in ref:
        dataset = dataset_row(session, project, ref)
        query = query.where(DatasetValidationRow.dataset_id == dataset.id)
    else:
        _, row = version_rows(session, project, ref)
        query = query.where(DatasetValidationRow.version_id == row.id)
    rows = session.execute(query.order_by(DatasetValidationRow.id.desc())).all()
    return [
        dataclasses.replace(ValidationReport.from_dict(json.loads(report)), id=record_id)
        for record_id, report in rows
    ]
