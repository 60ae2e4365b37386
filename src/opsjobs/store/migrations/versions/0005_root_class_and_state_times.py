"""The root's class and every entity's last_state_update

Revision ID: 0005_root_class_and_state_times
Revises: 0004_entity_model
Create Date: 2026-12-04

SAYMON's root object belongs to its standard class Root, ID ``1`` (docs.saymon.tech,
``glossary/classes``); the first migration made the root without a class. And
``last_state_update`` is set when an entity is made (docs/api.md §11): the root and the
objects and links made before opsjobs set it hold none, so they get their creation time.
Data only; a downgrade leaves the values, which the older schema holds as well.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_root_class_and_state_times"
down_revision = "0004_entity_model"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.text("UPDATE objects SET class_id = '1' WHERE id = '1' AND class_id IS NULL"))
    for table in ("objects", "links"):
        op.execute(
            sa.text(
                f"UPDATE {table} SET last_state_update = created "  # noqa: S608
                "WHERE last_state_update IS NULL"
            )
        )


def downgrade() -> None:
    pass
