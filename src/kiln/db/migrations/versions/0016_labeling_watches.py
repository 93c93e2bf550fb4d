"""Labeling watches: deployments whose unsure answers become labeling tasks as they are logged.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labeling_watches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("labeling_project_id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(length=128), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("score_output", sa.String(length=128), nullable=True),
        sa.Column("prediction_output", sa.String(length=128), nullable=False),
        sa.Column("added", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_added_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["labeling_project_id"],
            ["labeling_projects.id"],
            name=op.f("fk_labeling_watches_labeling_project_id_labeling_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_watches")),
        sa.UniqueConstraint(
            "labeling_project_id",
            "deployment",
            name=op.f("uq_labeling_watches_labeling_project_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("labeling_watches")
