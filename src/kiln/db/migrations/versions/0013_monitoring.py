"""Monitoring: reference profiles, monitors, their results per window, alert rules, deliveries.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from kiln.db._base import BigIntId, UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _project(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"],
        ["projects.id"],
        name=op.f(f"fk_{table}_project_id_projects"),
        ondelete="CASCADE",
    )


def _monitor(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["monitor_id"],
        ["monitors.id"],
        name=op.f(f"fk_{table}_monitor_id_monitors"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "reference_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("columns", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        _project("reference_profiles"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_profiles")),
        sa.UniqueConstraint(
            "project_id", "name", "version", name=op.f("uq_reference_profiles_project_id")
        ),
    )
    op.create_table(
        "monitors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=256), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _project("monitors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitors")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_monitors_project_id")),
    )
    op.create_table(
        "monitor_results",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("window_end", UTCDateTime(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        _monitor("monitor_results"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_results")),
        sa.UniqueConstraint(
            "monitor_id",
            "window_start",
            "window_end",
            name=op.f("uq_monitor_results_monitor_id"),
        ),
    )
    op.create_index(
        "ix_monitor_results_window", "monitor_results", ["monitor_id", "window_end"], unique=False
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=256), nullable=False),
        sa.Column("operator", sa.String(length=2), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("sinks", sa.Text(), nullable=False),
        sa.Column("pipeline", sa.String(length=1024), nullable=True),
        sa.Column("pipeline_params", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_fired_window", UTCDateTime(), nullable=True),
        _monitor("alert_rules"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
        sa.UniqueConstraint("monitor_id", "name", name=op.f("uq_alert_rules_monitor_id")),
    )
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BigIntId, autoincrement=True, nullable=False),
        sa.Column("alert_id", BigIntId, nullable=False),
        sa.Column("sink", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_deliveries_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index("ix_alert_deliveries_alert_id", "alert_deliveries", ["alert_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_alert_deliveries_alert_id", table_name="alert_deliveries")
    op.drop_table("alert_deliveries")
    op.drop_table("alert_rules")
    op.drop_index("ix_monitor_results_window", table_name="monitor_results")
    op.drop_table("monitor_results")
    op.drop_table("monitors")
    op.drop_table("reference_profiles")
