"""SAYMON's entity model: object and link fields, property records, tags

Revision ID: 0004_entity_model
Revises: 0002
Create Date: 2026-12-04

Objects get SAYMON's further fields (discovery_id, owner_id, client_data, background,
geoposition, geopositionRadius, manual_state, object_groups, weight, tags), links theirs
(owner_id, client_data, manual_state, weight, tags), all with their defaults. Every stored
property becomes a record with an ID: ``{"id", "name", "value", "type_id"}``, whether it was
kept as an object ``{name: value}`` or as SAYMON's array; a second property of the same name
is dropped (names are unique per entity from now on). New tables: ``tags`` and
``property_changes``.
"""

import json

import sqlalchemy as sa
from alembic import op

from opsjobs.domain.ids import new_id

revision = "0004_entity_model"
down_revision = "0003_user_profile"
branch_labels = None
depends_on = None

_INFO = 1


def _records(text: str) -> list[dict]:
    """The property records of one stored value (written out here, not imported, so that
    this migration keeps doing what it did whatever the code does later)."""
    try:
        value = json.loads(text)
    except ValueError:
        return []
    if isinstance(value, dict):
        items = [(name, entry, _INFO) for name, entry in value.items()]
    elif isinstance(value, list):
        items = []
        for item in value:
            if isinstance(item, dict) and "name" in item:
                type_id = item.get("type_id", _INFO)
                good = isinstance(type_id, int) and not isinstance(type_id, bool)
                items.append((item["name"], item.get("value", ""), type_id if good else _INFO))
    else:
        items = []
    records: list[dict] = []
    for name, entry, type_id in items:
        name = str(name)
        if name and all(r["name"] != name for r in records):
            records.append({"id": new_id(), "name": name, "value": entry, "type_id": type_id})
    return records


def _give_properties_ids(table: str) -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT id, properties FROM {table}")).all()  # noqa: S608
    for entity_id, text in rows:
        records = json.dumps(_records(text), ensure_ascii=False, separators=(",", ":"))
        conn.execute(
            sa.text(f"UPDATE {table} SET properties = :p WHERE id = :i"),  # noqa: S608
            {"p": records, "i": entity_id},
        )


def _common_columns(batch_op) -> None:
    batch_op.add_column(sa.Column("owner_id", sa.String(length=24), nullable=True))
    batch_op.add_column(sa.Column("client_data", sa.Text(), nullable=True))
    batch_op.add_column(sa.Column("manual_state", sa.Text(), nullable=True))
    batch_op.add_column(sa.Column("weight", sa.Integer(), server_default="1", nullable=False))
    batch_op.add_column(sa.Column("tags", sa.Text(), server_default="[]", nullable=False))


def upgrade() -> None:
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("discovery_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("background", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("geoposition", sa.Text(), server_default="[]", nullable=False)
        )
        batch_op.add_column(sa.Column("geoposition_radius", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("object_groups", sa.Text(), server_default="[]", nullable=False)
        )
        _common_columns(batch_op)
        batch_op.create_index("ux_objects_discovery", ["discovery_id"], unique=True)
    with op.batch_alter_table("links", schema=None) as batch_op:
        _common_columns(batch_op)
    op.create_table(
        "tags",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "property_changes",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("owner_id", sa.String(length=24), nullable=False),
        sa.Column("owner_type", sa.Integer(), nullable=False),
        sa.Column("property_id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=True),
        sa.Column("new_value", sa.Text(), nullable=True),
        sa.Column("user_id", sa.String(length=24), nullable=True),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_property_changes_at", "property_changes", ["at"], unique=False)
    _give_properties_ids("objects")
    _give_properties_ids("links")


def downgrade() -> None:
    op.drop_index("ix_property_changes_at", table_name="property_changes")
    op.drop_table("property_changes")
    op.drop_table("tags")
    with op.batch_alter_table("links", schema=None) as batch_op:
        for column in ("tags", "weight", "manual_state", "client_data", "owner_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("objects", schema=None) as batch_op:
        batch_op.drop_index("ux_objects_discovery")
        for column in (
            "tags",
            "weight",
            "manual_state",
            "client_data",
            "owner_id",
            "object_groups",
            "geoposition_radius",
            "geoposition",
            "background",
            "discovery_id",
        ):
            batch_op.drop_column(column)
