"""user profile, readable API tokens, CSRF tokens of sessions

Revision ID: 0003_user_profile
Revises: 0002
Create Date: 2026-12-04

Users get SAYMON's ``displayName`` (NULL: made from the login), ``contacts`` (a JSON array)
and ``language``, and keep their API token readable (``token``; a token issued before stays
valid through ``token_hash`` but reads back as null until it is issued again). Sessions get
the hash of their CSRF token; a session opened before has none and can only read until its
user logs in again. Existing rows take the defaults; nothing is rewritten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_user_profile"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("display_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("contacts", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("csrf_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("csrf_hash")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("language")
        batch_op.drop_column("contacts")
        batch_op.drop_column("display_name")
        batch_op.drop_column("token")
