"""Tables of ``kiln.data``: versioned datasets, their profiles and validation results.

A dataset (``data_datasets``; the name ``datasets`` belongs to tracking's run
inputs) holds numbered versions. A version's ``content_hash`` is its id: the
SHA-256 of the table's canonical content (see ``kiln.data._hash``), unique per
dataset, so registering the same data twice finds the existing row. Numbers
come from ``data_datasets.last_version``, bumped under the dataset row's lock
as the registry does for model versions. ``blobs`` lists the Parquet blobs in
the artifact store that hold the rows, in order; a version row is written
only after every blob is stored.

``data_profiles`` caches a version's statistics per (bins, top_k) setting.
``data_validations`` keeps every recorded validation (expectations used,
report, verdict): thresholds learned from history read it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow

NAME_LENGTH = 256
HASH_LENGTH = 64
SOURCE_TYPE_LENGTH = 32


class VersionedDatasetRow(Base):
    """A named dataset of a project; its data lives in its versions."""

    __tablename__ = "data_datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The highest version number ever given out (0: none yet).
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetVersionRow(Base):
    """One immutable version of a dataset: its content hash, schema, size, source and blobs."""

    __tablename__ = "data_dataset_versions"
    __table_args__ = (
        # Named by hand: the naming convention would give both the same name.
        UniqueConstraint("dataset_id", "version", name="uq_data_dataset_versions_version"),
        UniqueConstraint(
            "dataset_id", "content_hash", name="uq_data_dataset_versions_content_hash"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("data_datasets.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    #: Hex SHA-256 of the canonical content: the version id.
    content_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    #: JSON list of fields: ``[{"name", "type", "nullable"}]``.
    schema: Mapped[str] = mapped_column(Text)
    num_rows: Mapped[int] = mapped_column(BigInteger)
    num_columns: Mapped[int] = mapped_column(Integer)
    #: Total size of the stored Parquet blobs.
    num_bytes: Mapped[int] = mapped_column(BigInteger)
    #: ``pandas``, ``arrow``, ``polars``, ``parquet``, ``csv`` or ``parquet_folder``.
    source_type: Mapped[str] = mapped_column(String(SOURCE_TYPE_LENGTH))
    source: Mapped[str] = mapped_column(Text, default="")
    #: JSON list of ``{"digest", "size", "rows", "path"}``, in row order.
    blobs: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")


class DatasetProfileRow(Base):
    """A version's profile (statistics per column), computed once per setting."""

    __tablename__ = "data_profiles"

    version_id: Mapped[int] = mapped_column(
        ForeignKey("data_dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    bins: Mapped[int] = mapped_column(Integer, primary_key=True)
    top_k: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetValidationRow(Base):
    """One recorded validation of a version: the expectations used, the report, the verdict."""

    __tablename__ = "data_validations"
    __table_args__ = (Index("ix_data_validations_dataset_id_id", "dataset_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("data_datasets.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(
        ForeignKey("data_dataset_versions.id", ondelete="CASCADE"), index=True
    )
    reference_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("data_dataset_versions.id", ondelete="SET NULL")
    )
    #: JSON of the expectations (``Schema.to_dict()``).
    schema: Mapped[str] = mapped_column(Text)
    #: JSON of the report (``ValidationReport.to_dict()``).
    report: Mapped[str] = mapped_column(Text)
    passed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH), default="")
