"""Point reads on SQLite (Store.fetch_row, Store.sqlite_read): made on the immediate writer's
connection, whose page cache this process's own writes leave valid, between its transactions
and never inside one; on the read-only connection when the writer's cannot read at once."""

from __future__ import annotations

import sqlite3

import pytest

from helpers.notes import note, notes_store
from opsjobs.store.immediate import Busy, ImmediateWriter

READ = "SELECT n, text FROM notes WHERE n = ?"


@pytest.fixture
async def store(tmp_path, sqlite_template):
    async with notes_store(tmp_path, sqlite_template) as opened:
        yield opened


async def test_a_read_is_made_on_the_writers_connection(store):
    statements: list[str] = []
    store.immediate.conn.set_trace_callback(statements.append)
    try:
        await store.immediate.run_batched(note(1, "mine"))
        assert await store.fetch_row(READ, (1,)) == (1, "mine")
    finally:
        store.immediate.conn.set_trace_callback(None)
    assert statements[-1] == "SELECT n, text FROM notes WHERE n = 1"


async def test_a_read_sees_what_another_connection_committed_since(store):
    assert await store.fetch_row(READ, (2,)) is None
    other = sqlite3.connect(store.immediate.path, isolation_level=None)
    try:
        other.execute("INSERT INTO notes (n, text) VALUES (2, 'theirs')")
        assert await store.fetch_row(READ, (2,)) == (2, "theirs")
        other.execute("UPDATE notes SET text = 'theirs, again' WHERE n = 2")
        assert await store.fetch_row(READ, (2,)) == (2, "theirs, again")
    finally:
        other.close()


def _full_checkpoint_is_free(path: str) -> bool:
    """Whether a full checkpoint finishes now, which a snapshot still held would prevent."""
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("INSERT INTO notes (text) VALUES ('from elsewhere')")
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        other.close()
    return busy == 0


async def test_a_read_of_many_rows_holds_no_snapshot_after_it(store):
    for n in range(1, 4):
        await store.immediate.run_batched(note(n, "x"))
    assert await store.fetch_row("SELECT n FROM notes ORDER BY n", ()) == (1,)
    assert not store.immediate.conn.in_transaction
    assert _full_checkpoint_is_free(store.immediate.path)
    assert await store.immediate.run_batched(note(5, "z")) == 5


async def test_a_read_whose_rows_are_left_unread_holds_no_snapshot_after_it(store):
    for n in range(1, 4):
        await store.immediate.run_batched(note(n, "x"))
    statements: list[str] = []
    store.immediate.conn.set_trace_callback(statements.append)
    try:
        first_two = store.sqlite_read(
            "SELECT n FROM notes ORDER BY n", (), lambda c: c.fetchmany(2)
        )
    finally:
        store.immediate.conn.set_trace_callback(None)
    assert first_two == [(1,), (2,)]
    assert statements == ["SELECT n FROM notes ORDER BY n"]
    assert not store.immediate.conn.in_transaction
    assert _full_checkpoint_is_free(store.immediate.path)


async def test_a_read_inside_the_writers_transaction_is_refused(store):
    def reads_inside(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes (n, text) VALUES (6, 'uncommitted')")
        store.immediate.read(READ, (6,), sqlite3.Cursor.fetchone)

    with pytest.raises(RuntimeError, match="inside the immediate writer's transaction"):
        await store.immediate.run_batched(reads_inside)
    assert await store.fetch_row(READ, (6,)) is None  # rolled back, never seen


async def test_a_read_the_writers_connection_cannot_make_is_made_on_the_reader(store, monkeypatch):
    # A read on a WAL database is refused at once only during a recovery or under another
    # process's exclusive lock, neither of which a test can hold on cue: the refusal is
    # the writer's own Busy, stood in for here.
    await store.immediate.run_batched(note(7, "kept"))
    await store.immediate.run_batched(note(8, "kept too"))

    def refused(self, sql, params, consume):
        raise Busy()

    monkeypatch.setattr(ImmediateWriter, "read", refused)
    assert await store.fetch_row(READ, (7,)) == (7, "kept")
    rows = store.sqlite_read("SELECT n, text FROM notes ORDER BY n", (), list)
    assert rows == [(7, "kept"), (8, "kept too")]


async def test_a_read_on_a_closed_store_says_so(tmp_path, sqlite_template):
    async with notes_store(tmp_path, sqlite_template) as opened:
        pass
    with pytest.raises(RuntimeError, match="not open on SQLite"):
        opened.sqlite_read("SELECT 1", (), list)
