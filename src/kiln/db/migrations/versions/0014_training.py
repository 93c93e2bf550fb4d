"""Training: tuning studies and trials, checkpoints, training jobs and their logs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("args", sa.Text(), nullable=False),
        sa.Column("working_dir", sa.Text(), nullable=False),
        sa.Column("runner", sa.String(length=16), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=True),
        sa.Column("isolated", sa.Boolean(), nullable=False),
        sa.Column("requirements", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("supervisor_pid", sa.Integer(), nullable=True),
        sa.Column("supervisor_started", sa.Float(), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("process_started", sa.Float(), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("environment", sa.String(length=64), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("gpu_seconds", sa.Float(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_training_jobs_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_jobs")),
    )
    op.create_index(
        "ix_training_jobs_project_created",
        "training_jobs",
        ["project_id", "created_at"],
        unique=False,
    )
    op.create_index(op.f("ix_training_jobs_status"), "training_jobs", ["status"], unique=False)
    op.create_table(
        "tuning_studies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("directions", sa.Text(), nullable=False),
        sa.Column("user_attrs", sa.Text(), nullable=False),
        sa.Column("system_attrs", sa.Text(), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("parent_run_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_tuning_studies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_studies")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_tuning_studies_project_id")),
    )
    op.create_table(
        "training_job_logs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["training_jobs.id"],
            name=op.f("fk_training_job_logs_job_id_training_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "seq", name=op.f("pk_training_job_logs")),
    )
    op.create_table(
        "tuning_trials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("values", sa.Text(), nullable=True),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("distributions", sa.Text(), nullable=False),
        sa.Column("user_attrs", sa.Text(), nullable=False),
        sa.Column("system_attrs", sa.Text(), nullable=False),
        sa.Column("datetime_start", UTCDateTime(), nullable=True),
        sa.Column("datetime_complete", UTCDateTime(), nullable=True),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("owner_host", sa.String(length=256), nullable=False),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_started", sa.Float(), nullable=True),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=True),
        sa.Column("retried_by", sa.Integer(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_id"],
            ["tuning_studies.id"],
            name=op.f("fk_tuning_trials_study_id_tuning_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tuning_trials")),
        sa.UniqueConstraint("study_id", "number", name=op.f("uq_tuning_trials_study_id")),
    )
    op.create_index(
        "ix_tuning_trials_study_state", "tuning_trials", ["study_id", "state"], unique=False
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("format", sa.String(length=64), nullable=False),
        sa.Column("metric", sa.Float(), nullable=True),
        sa.Column("mode", sa.String(length=3), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_checkpoints_run_id_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("run_id", "step", name=op.f("uq_checkpoints_run_id")),
    )
    op.create_table(
        "tuning_intermediate_values",
        sa.Column("trial_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["trial_id"],
            ["tuning_trials.id"],
            name=op.f("fk_tuning_intermediate_values_trial_id_tuning_trials"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("trial_id", "step", name=op.f("pk_tuning_intermediate_values")),
    )


def downgrade() -> None:
    op.drop_table("tuning_intermediate_values")
    op.drop_table("checkpoints")
    op.drop_index("ix_tuning_trials_study_state", table_name="tuning_trials")
    op.drop_table("tuning_trials")
    op.drop_table("training_job_logs")
    op.drop_table("tuning_studies")
    op.drop_index("ix_training_jobs_status", table_name="training_jobs")
    op.drop_index("ix_training_jobs_project_created", table_name="training_jobs")
    op.drop_table("training_jobs")
