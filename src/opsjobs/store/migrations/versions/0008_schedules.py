"""Schedules: operations run at the times of a cron expression or an interval

Revision ID: 0008_schedules
Revises: 0007_audit_log
Create Date: 2026-12-04

One row per schedule; ``next_run_at`` (NULL while paused) is indexed so that the dispatcher
reads the earliest due time without scanning.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_schedules"
down_revision = "0007_audit_log"
branch_labels = None
depends_on = None

ID = sa.String(length=24)


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("target_id", ID, nullable=False),
        sa.Column("target_type", sa.Integer(), nullable=False),
        sa.Column("operation_id", ID, nullable=False),
        sa.Column("args", sa.Text(), server_default="{}", nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=True),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("interval_s", sa.Integer(), nullable=True),
        sa.Column("missed", sa.String(length=16), server_default="skip", nullable=False),
        sa.Column("paused", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("next_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_run_at", sa.BigInteger(), nullable=True),
        sa.Column("last_job_id", ID, nullable=True),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_schedules_next_run", "schedules", ["next_run_at"])
    op.create_index("ix_schedules_owner", "schedules", ["owner_id"])


def downgrade() -> None:
    op.drop_table("schedules")
