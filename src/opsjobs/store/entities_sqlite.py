"""An object's or a link's document in plain SQLite SQL, for the immediate path: read in the
transaction that changed the entity, from the row that transaction already holds, so that a
change of state answers without a read of its own (store/entities.py reads the same through
SQLAlchemy, five statements and as many hops to aiosqlite's thread)."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace
from typing import Any

from .entity_documents import Tree, link_document_of, object_document_of
from .operation_rows import operation_document
from .states_sqlite import rows

_OPERATIONS = "SELECT * FROM operations WHERE owner_kind = ? AND owner_id = ? ORDER BY created, id"
_CHILDREN = "SELECT object_id FROM object_parents WHERE parent_id = ? ORDER BY object_id"
# The links between two children of the object (entities._tree, for one object).
_CHILD_LINKS = (
    "SELECT l.id FROM links l "
    "JOIN object_parents s ON s.object_id = l.source "
    "JOIN object_parents t ON t.object_id = l.target AND t.parent_id = s.parent_id "
    "WHERE s.parent_id = ? ORDER BY l.id"
)


def _operations(conn: sqlite3.Connection, kind: str, row: SimpleNamespace) -> list[dict]:
    """The entity's own operations, then its class's (entities.effective_operations)."""
    found = [operation_document(op) for op in rows(conn, _OPERATIONS, (kind, row.id))]
    if row.class_id:
        found += [operation_document(op) for op in rows(conn, _OPERATIONS, ("class", row.class_id))]
    return found


def object_document(
    conn: sqlite3.Connection, row: SimpleNamespace, parent_ids: list[str]
) -> dict[str, Any]:
    tree = Tree(
        children={row.id: [r[0] for r in conn.execute(_CHILDREN, (row.id,))]},
        links={row.id: [r[0] for r in conn.execute(_CHILD_LINKS, (row.id,))]},
    )
    return object_document_of(row, parent_ids, _operations(conn, "object", row), tree)


def link_document(conn: sqlite3.Connection, row: SimpleNamespace) -> dict[str, Any]:
    names = dict(
        conn.execute("SELECT id, name FROM objects WHERE id IN (?, ?)", (row.source, row.target))
    )
    return link_document_of(row, _operations(conn, "link", row), names)
