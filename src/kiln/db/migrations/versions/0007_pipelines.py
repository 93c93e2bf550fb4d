"""Pipelines: pipeline runs, step runs and the step cache.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("pipeline", sa.String(length=256), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("runner", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("no_cache", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("start_time", UTCDateTime(), nullable=False),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_pipeline_runs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pipeline_runs_project_id_pipeline", ["project_id", "pipeline"], unique=False
        )
        batch_op.create_index(
            "ix_pipeline_runs_project_id_start_time", ["project_id", "start_time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_pipeline_runs_status"), ["status"], unique=False)

    op.create_table(
        "step_runs",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("invocation", sa.String(length=256), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("upstream", sa.Text(), nullable=False),
        sa.Column("inputs", sa.Text(), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("start_time", UTCDateTime(), nullable=True),
        sa.Column("end_time", UTCDateTime(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.Column("stdout_digest", sa.String(length=64), nullable=True),
        sa.Column("stderr_digest", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_step_runs_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_runs")),
        sa.UniqueConstraint("run_id", "invocation", name=op.f("uq_step_runs_run_id")),
    )
    op.create_table(
        "step_cache",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=256), nullable=False),
        sa.Column("outputs", sa.Text(), nullable=False),
        sa.Column("step_run_id", BigIntId, nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_step_cache_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_run_id"],
            ["step_runs.id"],
            name=op.f("fk_step_cache_step_run_id_step_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("project_id", "key", name=op.f("pk_step_cache")),
    )
    with op.batch_alter_table("step_cache", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_step_cache_step_run_id"), ["step_run_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("step_cache", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_cache_step_run_id"))

    op.drop_table("step_cache")
    op.drop_table("step_runs")
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_status"))
        batch_op.drop_index("ix_pipeline_runs_project_id_start_time")
        batch_op.drop_index("ix_pipeline_runs_project_id_pipeline")

    op.drop_table("pipeline_runs")
