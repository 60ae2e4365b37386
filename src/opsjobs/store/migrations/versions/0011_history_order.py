"""History lists in index order: one entity's by owner, many entities' by time

Revision ID: 0011_history_order
Revises: 0010_batches
Create Date: 2026-12-05

``ix_jobs_owner_time`` (owner_id, timestamp) made a history list sort every row of the
entity for the ``id`` that breaks ties, and read every row it skipped: the last page of an
object with 100,000 jobs read all 100,000. ``ix_jobs_owner_order`` holds the whole order and
the status filter, so a page is read in index order and the rows skipped are never read.
``ix_jobs_time`` serves the list of many entities' jobs (the console's list of every job):
walking one kind's jobs (objects' or links') back in time and keeping the owners asked for,
instead of reading all their jobs and sorting them (docs/decisions.md, "The web console").
"""

from alembic import op

revision = "0011_history_order"
down_revision = "0010_batches"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_jobs_owner_order",
        "jobs",
        ["owner_id", "owner_type", "timestamp", "id", "status"],
        unique=False,
    )
    op.create_index(
        "ix_jobs_time",
        "jobs",
        ["owner_type", "timestamp", "id", "owner_id", "status"],
        unique=False,
    )
    op.drop_index("ix_jobs_owner_time", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_owner_time", "jobs", ["owner_id", "timestamp"], unique=False)
    op.drop_index("ix_jobs_time", table_name="jobs")
    op.drop_index("ix_jobs_owner_order", table_name="jobs")
