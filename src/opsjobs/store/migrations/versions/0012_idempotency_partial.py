"""The idempotency index holds only the jobs that have a key

Revision ID: 0012_idempotency_partial
Revises: 0011_history_order
Create Date: 2026-12-06

``ux_jobs_idempotency`` (user_id, idempotency_key) held an entry for every job, though a
unique index never compares NULL keys and the one query that reads it
(``idempotency_key = ?``) never looks for one. Almost every job has no key: triggers,
schedules, batches and imported history never do. Each insert paid for an entry nobody
reads (docs/decisions.md, "Importing"). The index now holds the keyed jobs only; the rule it
keeps, one job per user and key, is the same.
"""

from alembic import op
from sqlalchemy import text

revision = "0012_idempotency_partial"
down_revision = "0011_history_order"
branch_labels = None
depends_on = None

KEYED = text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ux_jobs_idempotency", table_name="jobs")
    op.create_index(
        "ux_jobs_idempotency",
        "jobs",
        ["user_id", "idempotency_key"],
        unique=True,
        sqlite_where=KEYED,
        postgresql_where=KEYED,
    )


def downgrade() -> None:
    op.drop_index("ux_jobs_idempotency", table_name="jobs")
    op.create_index("ux_jobs_idempotency", "jobs", ["user_id", "idempotency_key"], unique=True)
