"""Batches: one operation run over a set of targets, and the claim order that keeps people first

Revision ID: 0010_batches
Revises: 0009_retention
Create Date: 2026-12-05

``batches`` holds one row per batch; ``batch_targets`` one per target, with the job made for
it once the batch's concurrency lets one be queued. ``jobs.priority`` (0: a person's run,
1: a trigger's, a schedule's or a batch's) leads the queue's index, so that runners take the
people's jobs first without sorting the queue (docs/decisions.md, "Batches and fairness").
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_batches"
down_revision = "0009_retention"
branch_labels = None
depends_on = None

ID = sa.String(length=24)
QUEUED = sa.text("status = 'queued'")
OPEN = sa.text("status = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    # Jobs already queued by a trigger or a schedule wait behind the people's, as new ones do.
    op.execute("UPDATE jobs SET priority = 1 WHERE status = 'queued' AND process_meta IS NOT NULL")
    op.drop_index("ix_jobs_queue", table_name="jobs")
    op.create_index(
        "ix_jobs_queue",
        "jobs",
        ["priority", "timestamp"],
        sqlite_where=QUEUED,
        postgresql_where=QUEUED,
    )
    op.create_table(
        "batches",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("operation_id", ID, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("args", sa.Text(), server_default="{}", nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("stop_after_failures", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stopped_reason", sa.Text(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_batches_owner", "batches", ["owner_id", "created"])
    op.create_index(
        "ix_batches_open", "batches", ["created"], sqlite_where=OPEN, postgresql_where=OPEN
    )
    op.create_table(
        "batch_targets",
        sa.Column("batch_id", ID, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entity_id", ID, nullable=False),
        sa.Column("owner_type", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("batch_id", "seq"),
    )
    op.create_index("ix_batch_targets_status", "batch_targets", ["batch_id", "status", "seq"])


def downgrade() -> None:
    op.drop_table("batch_targets")
    op.drop_table("batches")
    op.drop_index("ix_jobs_queue", table_name="jobs")
    op.create_index(
        "ix_jobs_queue", "jobs", ["timestamp"], sqlite_where=QUEUED, postgresql_where=QUEUED
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("priority")
