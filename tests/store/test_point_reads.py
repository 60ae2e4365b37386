"""Point reads on SQLite (Store.fetch_row, Store.sqlite_read): made on the immediate writer's
connection, whose page cache this process's own writes leave valid, between its transactions
and never inside one; on the read-only connection when the writer's cannot read at once."""

from __future__ import annotations

import sqlite3

import pytest

from helpers.notes import note, notes_store

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
    other = sqlite3.connect(path, isolation_level=None, timeout=0.2)
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


async def test_a_read_whose_consumer_fails_holds_no_snapshot_after_it(store):
    for n in range(1, 4):
        await store.immediate.run_batched(note(n, "x"))

    def fails(cursor: sqlite3.Cursor) -> None:
        cursor.fetchone()
        raise ValueError("the caller's reading failed")

    # The exception is kept, and its traceback with it: the cursor is not collected, so
    # only the read's own close ends the statement.
    with pytest.raises(ValueError) as failed:
        store.sqlite_read("SELECT n FROM notes ORDER BY n", (), fails)
    assert failed.value.__traceback__ is not None
    assert _full_checkpoint_is_free(store.immediate.path)


async def test_only_a_select_is_read_on_the_writers_connection(store):
    for statement in (
        "DELETE FROM notes",
        "INSERT INTO notes (text) VALUES ('written')",
        "WITH x AS (SELECT 1) DELETE FROM notes",
        "select n from notes",  # not how the store writes its reads: refused too
        " SELECT n FROM notes",
    ):
        with pytest.raises(ValueError, match="only a SELECT"):
            store.sqlite_read(statement, (), list)
    with pytest.raises(ValueError, match="only a SELECT"):
        await store.fetch_row("UPDATE notes SET text = 'changed'", ())
    assert store.sqlite_read("SELECT count(*) FROM notes", (), list) == [(0,)]


class _Refusing:
    """The writer's connection as it is while SQLite recovers the log or another process
    holds the database: every statement refused at once with SQLITE_BUSY. Neither can be
    held on cue here (a WAL database's reads are otherwise never refused), so this stands
    in for the connection; what it raises is the error sqlite3 raises."""

    in_transaction = False

    def execute(self, sql: str, params: tuple = ()) -> sqlite3.Cursor:
        refused = sqlite3.OperationalError("database is locked")
        refused.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise refused


async def test_a_read_the_writers_connection_cannot_make_is_made_on_the_reader(store, monkeypatch):
    await store.immediate.run_batched(note(7, "kept"))
    await store.immediate.run_batched(note(8, "kept too"))
    monkeypatch.setattr(store.immediate, "conn", _Refusing())
    assert await store.fetch_row(READ, (7,)) == (7, "kept")
    rows = store.sqlite_read("SELECT n, text FROM notes ORDER BY n", (), list)
    assert rows == [(7, "kept"), (8, "kept too")]


async def test_a_read_on_a_closed_store_says_so(tmp_path, sqlite_template):
    async with notes_store(tmp_path, sqlite_template) as opened:
        pass
    with pytest.raises(RuntimeError, match="not open on SQLite"):
        opened.sqlite_read("SELECT 1", (), list)
