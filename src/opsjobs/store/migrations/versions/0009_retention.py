"""Retention: an index for the per-owner minimum, and where the output purge has got to

Revision ID: 0009_retention
Revises: 0008_schedules
Create Date: 2026-12-04

Purging walks the jobs in primary-key order, which is time order (IDs begin with their
second), so it needs no index on ``timestamp`` (docs/decisions.md, "Retention"). What it
does need is to know, for an old job, whether its object or link has at least N newer
finished jobs of the same operation: ``ix_jobs_retention`` answers that by reading at most N
entries. ``purge_marks`` holds the last job ID the output purge looked at, so that each run
goes on from there instead of reading the history again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_retention"
down_revision = "0008_schedules"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_retention", "jobs", ["owner_id", "operation_id", "timestamp"], unique=False
    )
    op.create_table(
        "purge_marks",
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("position", sa.String(length=24), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("step"),
    )


def downgrade() -> None:
    op.drop_table("purge_marks")
    op.drop_index("ix_jobs_retention", table_name="jobs")
