"""Consuming due firings in plain SQLite SQL, for the immediate path (immediate.py).

Mirrors store/firings.consume, which stays the path for PostgreSQL and for when SQLite's
write lock is taken; the tests exercise both. One transaction as there: the firings still
as read, the jobs and deliveries they make, the one-shot ones deleted and the repeating
ones moved on; through aiosqlite each statement would be a hop to its thread and back.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from . import queue_sqlite
from .schema import trigger_deliveries

_DELIVERY_COLUMNS = frozenset(trigger_deliveries.c.keys())


def _insert_delivery(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    if not set(row) <= _DELIVERY_COLUMNS:  # let the SQLAlchemy path raise its own error
        raise KeyError(sorted(set(row) - _DELIVERY_COLUMNS))
    names = ", ".join(f'"{name}"' for name in row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO trigger_deliveries ({names}) VALUES ({marks})", tuple(row.values()))


def _still_as_read(conn: sqlite3.Connection, acted: Any) -> bool:
    firing = acted.firing
    found = conn.execute(
        "SELECT 1 FROM trigger_firings WHERE id = ? AND due_at = ? AND fired = ? "
        "AND COALESCE(period_ms, 0) = ?",
        (firing.id, firing.due_at, firing.fired, firing.period_ms or 0),
    ).fetchone()
    return found is not None


def consume(
    conn: sqlite3.Connection,
    acted: Sequence[Any],
    now: int,
    next_time: Callable[[Any, int], int | None],
) -> list[Any]:
    """store/firings.consume inside ``conn``'s transaction: the ones done. ``acted`` are
    firings.Acted, ``next_time`` is firings.next_time (that module calls this one)."""
    done = [a for a in acted if _still_as_read(conn, a)]
    for a in done:
        if a.job is not None:
            queue_sqlite.insert_job(conn, a.job)
        _insert_delivery(conn, a.delivery)
        following = next_time(a.firing, now)
        if following is None:
            conn.execute("DELETE FROM trigger_firings WHERE id = ?", (a.firing.id,))
        else:
            conn.execute(
                "UPDATE trigger_firings SET due_at = ?, fired = ? WHERE id = ?",
                (following, a.firing.fired + 1, a.firing.id),
            )
    return done
