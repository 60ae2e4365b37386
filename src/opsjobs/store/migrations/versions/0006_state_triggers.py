"""State history, trigger firings and deliveries; class triggers

Revision ID: 0006_state_triggers
Revises: 0005_root_class_and_state_times
Create Date: 2026-12-04

A change of an entity's state is recorded in ``state_history``. State triggers (kept in
``state_triggers`` since the first schema, and now also on classes) act through
``trigger_firings``, rows due at a time, made in the transaction of the change and consumed
in the one that acts; what each firing did is kept in ``trigger_deliveries``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_state_triggers"
down_revision = "0005_root_class_and_state_times"
branch_labels = None
depends_on = None

ID = sa.String(length=24)


def _state_history() -> None:
    op.create_table(
        "state_history",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("owner_type", sa.Integer(), nullable=False),
        sa.Column("state_id", sa.Integer(), nullable=False),
        sa.Column("prev_state_id", sa.Integer(), nullable=True),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("job_id", ID, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_state_history_time", "state_history", ["timestamp"])
    op.create_index("ix_state_history_owner_time", "state_history", ["owner_id", "timestamp"])


def _trigger_firings() -> None:
    op.create_table(
        "trigger_firings",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("owner_type", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("source_id", ID, nullable=False),
        sa.Column("trigger_index", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("change_id", ID, nullable=True),
        sa.Column("state_id", sa.Integer(), nullable=True),
        sa.Column("prev_state_id", sa.Integer(), nullable=True),
        sa.Column("entered_at", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("period_ms", sa.BigInteger(), nullable=True),
        sa.Column("fired", sa.Integer(), server_default="0", nullable=False),
        sa.Column("context", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trigger_firings_due", "trigger_firings", ["due_at"])
    op.create_index("ix_trigger_firings_owner", "trigger_firings", ["owner_id"])


def _trigger_deliveries() -> None:
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("firing_id", ID, nullable=False),
        sa.Column("owner_id", ID, nullable=False),
        sa.Column("owner_type", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=8), nullable=False),
        sa.Column("change_id", ID, nullable=True),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("due_at", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.BigInteger(), nullable=False),
        sa.Column("late", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_until", sa.BigInteger(), nullable=True),
        sa.Column("finished", sa.BigInteger(), nullable=True),
        sa.Column("history", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trigger_deliveries_owner", "trigger_deliveries", ["owner_id", "fired_at"])
    where = sa.text("status IN ('pending', 'sending')")
    op.create_index(
        "ix_trigger_deliveries_open",
        "trigger_deliveries",
        ["lease_until"],
        sqlite_where=where,
        postgresql_where=where,
    )


def upgrade() -> None:
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("triggers", sa.Text(), nullable=True))
    _state_history()
    _trigger_firings()
    _trigger_deliveries()


def downgrade() -> None:
    op.drop_table("trigger_deliveries")
    op.drop_table("trigger_firings")
    op.drop_table("state_history")
    with op.batch_alter_table("classes", schema=None) as batch_op:
        batch_op.drop_column("triggers")
