"""Versioned feature store definitions: entities, feature views, feature services.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_feature_definitions_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_definitions")),
        sa.UniqueConstraint(
            "project_id",
            "kind",
            "name",
            "version",
            name=op.f("uq_feature_definitions_project_id"),
        ),
    )
    with op.batch_alter_table("feature_definitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feature_definitions_name", ["project_id", "kind", "name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("feature_definitions", schema=None) as batch_op:
        batch_op.drop_index("ix_feature_definitions_name")
    op.drop_table("feature_definitions")
