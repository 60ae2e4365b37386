"""A store on a copy of the migrated template with a table of notes that nothing else
writes: for the tests of SQLite's immediate writer and of the reads made on its connection."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

from helpers.execution import opened_store
from opsjobs.store.core import Store


@contextlib.asynccontextmanager
async def notes_store(directory: Path, template: Path) -> AsyncIterator[Store]:
    path = directory / "opsjobs.db"
    path.write_bytes(template.read_bytes())
    async with opened_store(f"sqlite:///{path}") as store:
        store.immediate.conn.execute("CREATE TABLE notes (n INTEGER PRIMARY KEY, text TEXT)")
        yield store


def note(n: int, text: str = "x"):
    """A write of one note, for the immediate writer."""

    def work(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO notes (n, text) VALUES (?, ?)", (n, text))
        return n

    return work
