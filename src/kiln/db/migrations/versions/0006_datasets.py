"""Versioned datasets: datasets, versions, profiles and validation results.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_datasets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("last_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_data_datasets_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_datasets")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_data_datasets_project_id")),
    )
    with op.batch_alter_table("data_datasets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_data_datasets_project_id"), ["project_id"], unique=False
        )

    op.create_table(
        "data_dataset_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_columns", sa.Integer(), nullable=False),
        sa.Column("num_bytes", sa.BigInteger(), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("blobs", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["data_datasets.id"],
            name=op.f("fk_data_dataset_versions_dataset_id_data_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_dataset_versions")),
        sa.UniqueConstraint(
            "dataset_id", "content_hash", name="uq_data_dataset_versions_content_hash"
        ),
        sa.UniqueConstraint("dataset_id", "version", name="uq_data_dataset_versions_version"),
    )
    op.create_table(
        "data_profiles",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("bins", sa.Integer(), nullable=False),
        sa.Column("top_k", sa.Integer(), nullable=False),
        sa.Column("profile", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["data_dataset_versions.id"],
            name=op.f("fk_data_profiles_version_id_data_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "bins", "top_k", name=op.f("pk_data_profiles")),
    )
    op.create_table(
        "data_validations",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("reference_version_id", sa.Integer(), nullable=True),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["data_datasets.id"],
            name=op.f("fk_data_validations_dataset_id_data_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reference_version_id"],
            ["data_dataset_versions.id"],
            name=op.f("fk_data_validations_reference_version_id_data_dataset_versions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["data_dataset_versions.id"],
            name=op.f("fk_data_validations_version_id_data_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_validations")),
    )
    with op.batch_alter_table("data_validations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_data_validations_dataset_id_id", ["dataset_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_data_validations_version_id"), ["version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("data_validations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_validations_version_id"))
        batch_op.drop_index("ix_data_validations_dataset_id_id")

    op.drop_table("data_validations")
    op.drop_table("data_profiles")
    op.drop_table("data_dataset_versions")
    with op.batch_alter_table("data_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_data_datasets_project_id"))

    op.drop_table("data_datasets")
