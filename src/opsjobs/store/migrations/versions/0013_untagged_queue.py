"""The queue of jobs any runner may take, in claim order

Revision ID: 0013_untagged_queue
Revises: 0012_idempotency_partial
Create Date: 2026-12-06

A runner without tags (the usual runner) claims only jobs without a tag. With ``ix_jobs_queue``
alone, that condition was a filter the index could not answer, and PostgreSQL, whose guess
for such a filter is that it passes one row in hundreds, read the whole queue with a bitmap
scan and sorted it on every claim whenever the table's statistics were missing or older than
the backlog (docs/decisions.md, "The claim's plan"). ``ix_jobs_queue_untagged`` holds the
queued jobs without a tag in the exact claim order (priority, timestamp, id): its condition
is the claim's, so the claim reads its first entries and sorts nothing, whatever the
statistics say. ``ix_jobs_queue`` stays for the runners that have tags.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_untagged_queue"
down_revision = "0012_idempotency_partial"
branch_labels = None
depends_on = None

UNTAGGED_QUEUED = sa.text("status = 'queued' AND (runner_tag IS NULL OR runner_tag = '')")


def upgrade() -> None:
    op.create_index(
        "ix_jobs_queue_untagged",
        "jobs",
        ["priority", "timestamp", "id"],
        sqlite_where=UNTAGGED_QUEUED,
        postgresql_where=UNTAGGED_QUEUED,
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_queue_untagged", table_name="jobs")
