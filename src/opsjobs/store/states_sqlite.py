"""A change of state in plain SQLite SQL, for the immediate path (immediate.py).

Each function mirrors one of store/states.py, which stays the path for PostgreSQL and for
when SQLite's write lock is taken; the tests exercise both. The whole change (the entity's
row, its history row, the end of what the old state had pending, the firings) is a handful
of indexed statements: microseconds in SQLite, where through aiosqlite each would be a hop
to its thread and back.
"""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import orjson

from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from .schema import trigger_firings
from .states import StateChange
from .triggers import Defined, firing_row

_TABLES = {EntityKind.OBJECT: "objects", EntityKind.LINK: "links"}
_FIRING_COLUMNS = tuple(trigger_firings.c.keys())
_INSERT_FIRING = (
    f"INSERT INTO trigger_firings ({', '.join(_FIRING_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _FIRING_COLUMNS)})"
)
_INSERT_CHANGE = (
    "INSERT INTO state_history (id, owner_id, owner_type, state_id, prev_state_id, timestamp, "
    "user_id, job_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PENDING = "owner_id = ? AND cause = 'state'"


def rows(conn: sqlite3.Connection, sql: str, params: tuple) -> list[SimpleNamespace]:
    """The rows of ``sql``, each with its columns as attributes (as SQLAlchemy's rows)."""
    cursor = conn.execute(sql, params)
    names = [column[0] for column in cursor.description]
    return [SimpleNamespace(**dict(zip(names, row, strict=True))) for row in cursor]


def change_state(
    conn: sqlite3.Connection,
    kind: EntityKind,
    entity_id: str,
    state_id: int,
    *,
    at: int,
    user_id: str | None = None,
    touch: bool = False,
) -> tuple[SimpleNamespace, StateChange | None]:
    """Set the entity's state (store/states.change_state) inside ``conn``'s transaction: its
    whole row as it is now, and the change (None when it was in that state already; then
    ``touch``, a PATCH's, still marks the row updated)."""
    table = _TABLES[kind]
    found = rows(conn, f"SELECT * FROM {table} WHERE id = ?", (entity_id,))
    if not found:
        raise NotFound.entity(kind.label, entity_id)
    row = found[0]
    if row.state_id == state_id:
        if touch:
            conn.execute(f"UPDATE {table} SET updated = ? WHERE id = ?", (at, entity_id))
            row.updated = at
        return row, None
    conn.execute(
        f"UPDATE {table} SET state_id = ?, last_state_update = ?, updated = ? WHERE id = ?",
        (state_id, at, at, entity_id),
    )
    prev_state_id = row.state_id
    row.state_id, row.last_state_update, row.updated = state_id, at, at
    change = record_change(
        conn, kind, entity_id, state_id, at=at, user_id=user_id,
        prev_state_id=prev_state_id, class_id=row.class_id,
    )  # fmt: skip
    return row, change


def record_change(
    conn: sqlite3.Connection,
    kind: EntityKind,
    entity_id: str,
    state_id: int,
    *,
    at: int,
    user_id: str | None,
    prev_state_id: int | None,
    class_id: str | None,
) -> StateChange:
    """store/states.record_change: the history row, the old state's pending firings ended,
    the new state's started."""
    change = {
        "id": new_id(),
        "state_id": state_id,
        "prev_state_id": prev_state_id,
        "timestamp": at,
    }
    conn.execute(
        _INSERT_CHANGE,
        (change["id"], entity_id, kind.value, state_id, prev_state_id, at, user_id, None),
    )
    _leave(conn, entity_id, at)
    firings = [
        firing_row(kind, entity_id, defined, change)
        for defined in defined_triggers(conn, kind, entity_id, class_id)
        if state_id in defined.trigger["states"]
    ]
    if firings:
        conn.executemany(_INSERT_FIRING, [tuple(f[c] for c in _FIRING_COLUMNS) for f in firings])
    return StateChange(change["id"], state_id, prev_state_id, at, len(firings))


def _leave(conn: sqlite3.Connection, entity_id: str, at: int) -> None:
    """store/states._leave: a firing not due yet is dropped, a repeating one stops."""
    if conn.execute(
        f"SELECT 1 FROM trigger_firings WHERE {_PENDING} LIMIT 1", (entity_id,)
    ).fetchone():
        conn.execute(
            f"DELETE FROM trigger_firings WHERE {_PENDING} AND due_at > ?", (entity_id, at)
        )
        conn.execute(
            f"UPDATE trigger_firings SET period_ms = NULL WHERE {_PENDING} "
            "AND period_ms IS NOT NULL",
            (entity_id,),
        )


def defined_triggers(
    conn: sqlite3.Connection, kind: EntityKind, entity_id: str, class_id: str | None
) -> list[Defined]:
    """store/triggers.defined_triggers: the entity's own, then its class's."""
    found: list[Defined] = []
    own = conn.execute(
        "SELECT triggers FROM state_triggers WHERE owner_id = ?", (entity_id,)
    ).fetchone()
    for n, trigger in enumerate(orjson.loads(own[0]) if own else []):
        found.append(Defined(kind.word, entity_id, n, trigger))
    if class_id:
        inherited = conn.execute(
            "SELECT triggers FROM classes WHERE id = ?", (class_id,)
        ).fetchone()
        for n, trigger in enumerate(
            orjson.loads(inherited[0]) if inherited and inherited[0] else []
        ):
            found.append(Defined("class", class_id, n, trigger))
    return found
