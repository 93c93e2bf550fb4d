"""Operations that span both stores: registering, loading, profiling and validating versions.

Each takes the ``Database`` and the ``ArtifactStore`` because it interleaves
them with work that must stay outside any transaction: bytes are stored
before the version row that names them is written, and profiles and checks
are computed between a read transaction and a short write one, so no lock
is held while NumPy works.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pyarrow as pa

from kiln.artifacts import ArtifactStore
from kiln.data import _blobs, _datasets, _records
from kiln.data._checks import run_checks
from kiln.data._entities import DatasetVersion, Field
from kiln.data._hash import content_hash
from kiln.data._names import check_dataset_name
from kiln.data._profile import DEFAULT_BINS, DEFAULT_TOP_K, Profile
from kiln.data._profiling import compute_profile
from kiln.data._report import ValidationReport
from kiln.data._schema import (
    DEFAULT_MAX_CATEGORIES,
    DEFAULT_NULL_RATE_MARGIN,
    Schema,
    infer_from_profile,
)
from kiln.data._sources import ACCEPTED, prepare
from kiln.data._thresholds import Thresholds
from kiln.db import Database
from kiln.errors import Conflict, InvalidInput
from kiln.lineage import Node, report_made, report_used


def register(
    db: Database,
    artifacts: ArtifactStore,
    project: str,
    data: Any,
    name: str,
    *,
    description: str = "",
    source: str | None = None,
    created_by: str = "",
) -> DatasetVersion:
    """Store ``data`` as a version of dataset ``name`` (created when missing).

    Content the dataset holds already returns the existing version and
    stores nothing. Otherwise the blobs are stored first, then the version row
    is written in one transaction: a failure in between leaves no version.
    """
    check_dataset_name(name)
    prepared = prepare(data, source=source)
    digest = content_hash(prepared.table)
    existing = db.read(_datasets.find_version, project, name, digest)
    if existing is not None:
        report_made(Node.dataset_version(existing.version_id))
        return existing
    try:
        blobs = _blobs.store(artifacts, prepared)
    except OSError as error:
        raise Conflict(
            f"could not store the data of {name!r} in the artifact store at "
            f"{artifacts.backend.location!r} ({error}); nothing was registered: fix the store "
            "and register again"
        ) from None
    new = _datasets.NewVersion(
        content_hash=digest,
        schema=tuple(
            Field(field.name, str(field.type), field.nullable) for field in prepared.table.schema
        ),
        num_rows=prepared.table.num_rows,
        source_type=prepared.source_type,
        source=prepared.source,
        blobs=blobs,
    )
    version, _ = db.run(
        _datasets.create_version,
        project,
        name,
        new,
        description=description,
        created_by=created_by,
    )
    report_made(Node.dataset_version(version.version_id))
    return version


def read_version(artifacts: ArtifactStore, version: DatasetVersion) -> pa.Table:
    return _blobs.read(artifacts, version.blobs, version.uri)


def load(db: Database, artifacts: ArtifactStore, project: str, ref: Any) -> pa.Table:
    """The table a stored version holds (``ref``: ``name@…`` or a ``DatasetVersion``)."""
    key = db.read(_records.version_key, project, _ref_text(ref))
    report_used(Node.dataset_version(key.version.version_id))
    return read_version(artifacts, key.version)


def _ref_text(ref: Any) -> str:
    if isinstance(ref, DatasetVersion):
        return ref.uri
    if isinstance(ref, str):
        return ref
    raise InvalidInput(
        f"expected a dataset reference like 'name@latest' or a DatasetVersion, got "
        f"{type(ref).__name__}",
        field="ref",
    )


def is_stored(data: Any) -> bool:
    """Whether ``data`` names a stored version (a string or a DatasetVersion) rather than data."""
    return isinstance(data, str | DatasetVersion)


def table_of(db: Database, artifacts: ArtifactStore, project: str, data: Any) -> pa.Table:
    """The table of a stored version (``name@…``) or of in-memory data or a file (a Path)."""
    if is_stored(data):
        return load(db, artifacts, project, data)
    if isinstance(data, Profile):
        raise InvalidInput("expected data, got a Profile", field="data")
    return prepare(data).table


def version_profile(
    db: Database,
    artifacts: ArtifactStore,
    project: str,
    ref: Any,
    *,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
) -> tuple[Profile, _records.VersionKey]:
    """The stored version's profile, computed and kept on first request."""
    key = db.read(_records.version_key, project, _ref_text(ref))
    cached = db.read(_records.load_profile, key.row_id, bins, top_k)
    if cached is not None:
        return cached, key
    table = read_version(artifacts, key.version)
    profile = compute_profile(
        table, bins=bins, top_k=top_k, dataset=key.version.name, version=key.version.version
    )
    db.run(_records.save_profile, key.row_id, profile)
    return profile, key


def profile(
    db: Database,
    artifacts: ArtifactStore,
    project: str,
    data: Any,
    *,
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
) -> Profile:
    """The profile of a stored version (kept) or of in-memory data (computed each time)."""
    if is_stored(data):
        return version_profile(db, artifacts, project, data, bins=bins, top_k=top_k)[0]
    return compute_profile(table_of(db, artifacts, project, data), bins=bins, top_k=top_k)


def infer_schema(
    db: Database,
    artifacts: ArtifactStore,
    project: str,
    data: Any,
    *,
    max_categories: int = DEFAULT_MAX_CATEGORIES,
    null_rate_margin: float = DEFAULT_NULL_RATE_MARGIN,
) -> Schema:
    """Expectations inferred from a stored version, in-memory data or a ``Profile``."""
    if not isinstance(max_categories, int) or max_categories < 0:
        raise InvalidInput(
            f"max_categories must be a whole number from 0, got {max_categories!r}",
            field="max_categories",
        )
    if isinstance(data, Profile):
        found = data
    else:
        top_k = max(DEFAULT_TOP_K, max_categories)
        found = profile(db, artifacts, project, data, top_k=top_k)
    return infer_from_profile(
        found, max_categories=max_categories, null_rate_margin=null_rate_margin
    )


def validate(
    db: Database,
    artifacts: ArtifactStore,
    project: str,
    data: Any,
    schema: Schema | dict[str, Any] | None = None,
    *,
    reference: Any = None,
    thresholds: Thresholds | None = None,
    record: bool = True,
    created_by: str = "",
) -> ValidationReport:
    """Check ``data`` against ``schema`` and, given a reference, for row loss and drift.

    ``data`` and ``reference`` are each a stored version (``name@…``), a
    DataFrame, an Arrow table or a Path; ``reference`` may also be a
    ``Profile``. Without a schema, the reference's inferred one is used. A
    stored version's validation is recorded (unless ``record=False``), which
    is what learned thresholds learn from.
    """
    thresholds = thresholds if thresholds is not None else Thresholds()
    if not isinstance(thresholds, Thresholds):
        raise InvalidInput(
            f"thresholds must be a kiln.data.Thresholds, got {type(thresholds).__name__}",
            field="thresholds",
        )
    key = db.read(_records.version_key, project, _ref_text(data)) if is_stored(data) else None
    if key is not None:
        report_used(Node.dataset_version(key.version.version_id))
    reference_profile, reference_key, reference_name = _reference(db, artifacts, project, reference)
    schema = _schema(schema, reference_profile)
    table = read_version(artifacts, key.version) if key else table_of(db, artifacts, project, data)
    history = _history(db, project, key, schema) if thresholds.uses_history() else {}
    checks = run_checks(
        table, schema, reference=reference_profile, thresholds=thresholds, history=history
    )
    report = ValidationReport(
        checks=tuple(checks),
        num_rows=table.num_rows,
        dataset=key.version.name if key else None,
        version=key.version.version if key else None,
        version_id=key.version.version_id if key else None,
        reference=reference_name,
    )
    if key is not None and record:
        record_id = db.run(
            _records.record_validation,
            key,
            reference_key.row_id if reference_key else None,
            schema,
            report,
            created_by=created_by,
        )
        report = dataclasses.replace(report, id=record_id)
    return report


def _schema(schema: Schema | dict[str, Any] | None, reference: Profile | None) -> Schema:
    """The schema to check against: the one given, or the reference's inferred one."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, dict):
        return Schema.from_dict(schema)
    if schema is not None:
        raise InvalidInput(
            f"schema must be a kiln.data.Schema or its to_dict(), got {type(schema).__name__}",
            field="schema",
        )
    if reference is None:
        raise InvalidInput(
            "validate needs a schema (kiln.data.infer_schema(...)) or a reference to infer one "
            "from",
            field="schema",
        )
    return infer_from_profile(
        reference, max_categories=min(DEFAULT_MAX_CATEGORIES, reference.top_k)
    )


def _history(
    db: Database, project: str, key: _records.VersionKey | None, schema: Schema
) -> dict[tuple[str, str | None], list[float]]:
    """Past observations for learned thresholds, of the version's dataset or the schema's."""
    dataset = key.dataset_id if key else None
    if dataset is None and schema.dataset is not None:
        dataset = db.read(_records.dataset_id, project, schema.dataset)
    if dataset is None:
        return {}
    return db.read(
        _records.observation_history, dataset, exclude_version_row_id=key.row_id if key else None
    )


def _reference(
    db: Database, artifacts: ArtifactStore, project: str, reference: Any
) -> tuple[Profile | None, _records.VersionKey | None, str | None]:
    if reference is None:
        return None, None, None
    if isinstance(reference, Profile):
        name = f"{reference.dataset}@{reference.version}" if reference.dataset else "a profile"
        return reference, None, name
    if is_stored(reference):
        found, key = version_profile(db, artifacts, project, reference)
        return found, key, key.version.uri
    try:
        table = prepare(reference).table
    except InvalidInput as error:
        raise InvalidInput(
            f"reference must be a stored version ('name@3'), a Profile, or {ACCEPTED}: "
            f"{error.message}",
            field="reference",
        ) from None
    computed = compute_profile(table, bins=DEFAULT_BINS, top_k=DEFAULT_TOP_K)
    return computed, None, "in-memory data"
