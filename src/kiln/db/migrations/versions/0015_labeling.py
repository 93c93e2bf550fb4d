"""Labeling: projects over dataset versions, their tasks, and annotations.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labeling_projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("task_type", sa.String(length=16), nullable=False),
        sa.Column("data_kind", sa.String(length=16), nullable=False),
        sa.Column("label_schema", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=256), nullable=False),
        sa.Column("overlap", sa.Integer(), nullable=False),
        sa.Column("webhooks", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_labeling_projects_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_projects")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_labeling_projects_project_id")),
    )
    op.create_table(
        "labeling_tasks",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("labeling_project_id", sa.Integer(), nullable=False),
        sa.Column("item_key", sa.String(length=256), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("prediction", sa.Text(), nullable=True),
        sa.Column("gold", sa.Text(), nullable=True),
        sa.Column("consensus", sa.Text(), nullable=True),
        sa.Column("agreement", sa.Float(), nullable=True),
        sa.Column("review_reason", sa.Text(), nullable=True),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("reviewed_by", sa.String(length=256), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["labeling_project_id"],
            ["labeling_projects.id"],
            name=op.f("fk_labeling_tasks_labeling_project_id_labeling_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_labeling_tasks")),
        sa.UniqueConstraint(
            "labeling_project_id", "item_key", name=op.f("uq_labeling_tasks_labeling_project_id")
        ),
    )
    op.create_index(
        "ix_labeling_tasks_queue",
        "labeling_tasks",
        ["labeling_project_id", "status", "priority"],
        unique=False,
    )
    op.create_table(
        "annotations",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("task_id", BigIntId, nullable=False),
        sa.Column("annotator", sa.String(length=256), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("skipped", sa.Boolean(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["labeling_tasks.id"],
            name=op.f("fk_annotations_task_id_labeling_tasks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annotations")),
        sa.UniqueConstraint("task_id", "annotator", name=op.f("uq_annotations_task_id")),
    )
    op.create_index(op.f("ix_annotations_task_id"), "annotations", ["task_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_annotations_task_id", table_name="annotations")
    op.drop_table("annotations")
    op.drop_index("ix_labeling_tasks_queue", table_name="labeling_tasks")
    op.drop_table("labeling_tasks")
    op.drop_table("labeling_projects")
