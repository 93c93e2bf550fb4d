"""Prediction log: the index of its Parquet batches, and ground-truth labels by request id.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_batches",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("input_rows", sa.BigInteger(), nullable=False),
        sa.Column("first_time", UTCDateTime(), nullable=False),
        sa.Column("last_time", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prediction_batches_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_batches")),
        sa.UniqueConstraint(
            "project_id", "deployment", "digest", name=op.f("uq_prediction_batches_project_id")
        ),
    )
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_batches_last_time",
            ["project_id", "deployment", "last_time"],
            unique=False,
        )
    op.create_table(
        "prediction_labels",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_prediction_labels_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "deployment", "request_id", name=op.f("pk_prediction_labels")
        ),
    )


def downgrade() -> None:
    op.drop_table("prediction_labels")
    with op.batch_alter_table("prediction_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_batches_last_time")
    op.drop_table("prediction_batches")
