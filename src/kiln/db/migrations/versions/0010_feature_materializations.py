"""Feature materializations: each run of a view into an online store, its window and outcome.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_materializations",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(length=128), nullable=False),
        sa.Column("view_version", sa.Integer(), nullable=False),
        sa.Column("store", sa.String(length=1024), nullable=False),
        sa.Column("start", UTCDateTime(), nullable=True),
        sa.Column("end", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("keys_written", sa.BigInteger(), nullable=False),
        sa.Column("newest_event", UTCDateTime(), nullable=True),
        sa.Column("statistics", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feature_materializations_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_materializations")),
    )
    with op.batch_alter_table("feature_materializations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_materializations_view", ["project_id", "view", "store"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feature_materializations", schema=None) as batch_op:
        batch_op.drop_index("ix_feature_materializations_view")
    op.drop_table("feature_materializations")
