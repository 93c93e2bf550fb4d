"""Lineage edges and stale flags, alerts, pipeline schedules; resumable pipeline runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=512), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.String(length=256), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_alerts_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index("ix_alerts_project_id_status", ["project_id", "status"], unique=False)
        batch_op.create_index(
            "ix_alerts_subject", ["project_id", "subject_kind", "subject_id"], unique=False
        )

    op.create_table(
        "lineage_edges",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=32), nullable=False),
        sa.Column("source_id", sa.String(length=512), nullable=False),
        sa.Column("target_kind", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=512), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_lineage_edges_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lineage_edges")),
        sa.UniqueConstraint(
            "project_id",
            "source_kind",
            "source_id",
            "target_kind",
            "target_id",
            "relation",
            name=op.f("uq_lineage_edges_project_id"),
        ),
    )
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lineage_edges_target", ["project_id", "target_kind", "target_id"], unique=False
        )

    op.create_table(
        "lineage_stale",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("node_kind", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=512), nullable=False),
        sa.Column("cause_kind", sa.String(length=32), nullable=False),
        sa.Column("cause_id", sa.String(length=512), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("superseded_by_kind", sa.String(length=32), nullable=False),
        sa.Column("superseded_by_id", sa.String(length=512), nullable=False),
        sa.Column("flagged_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_lineage_stale_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "project_id",
            "node_kind",
            "node_id",
            "cause_kind",
            "cause_id",
            name=op.f("pk_lineage_stale"),
        ),
    )
    op.create_table(
        "pipeline_schedules",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False, server_default=""),
        sa.Column("workdir", sa.Text(), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("catch_up", sa.String(length=16), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_fire_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipeline_schedules_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_schedules")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_pipeline_schedules_project_id")),
    )
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_schedules_next_fire_at"), ["next_fire_at"], unique=False
        )

    op.create_table(
        "schedule_firings",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("schedule_id", BigIntId, nullable=False),
        sa.Column("fire_time", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=256), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_schedule_firings_pipeline_run_id_pipeline_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["schedule_id"],
            ["pipeline_schedules.id"],
            name=op.f("fk_schedule_firings_schedule_id_pipeline_schedules"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_firings")),
        sa.UniqueConstraint(
            "schedule_id", "fire_time", name=op.f("uq_schedule_firings_schedule_id")
        ),
    )
    with op.batch_alter_table("schedule_firings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_schedule_firings_pipeline_run_id"), ["pipeline_run_id"], unique=False
        )

    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("target", sa.String(length=1024), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("workdir", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("resumes", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_column("resumes")
        batch_op.drop_column("workdir")
        batch_op.drop_column("target")

    with op.batch_alter_table("schedule_firings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_firings_pipeline_run_id"))

    op.drop_table("schedule_firings")
    with op.batch_alter_table("pipeline_schedules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_schedules_next_fire_at"))

    op.drop_table("pipeline_schedules")
    op.drop_table("lineage_stale")
    with op.batch_alter_table("lineage_edges", schema=None) as batch_op:
        batch_op.drop_index("ix_lineage_edges_target")

    op.drop_table("lineage_edges")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_subject")
        batch_op.drop_index("ix_alerts_project_id_status")

    op.drop_table("alerts")
