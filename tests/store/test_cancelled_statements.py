"""A task cancelled in the middle of a SQLite statement (a shutdown, a request's time limit, a
client gone) leaves no lock and no snapshot behind.

SQLAlchemy then throws the connection away, closing it without a rollback. A SQLite
connection closed while a statement of it is still stepping is only marked closed: its
transaction, and the write lock or snapshot it holds, live on until that statement is
finalized, which is when the garbage collector frees the cursor that the cancelled task's
traceback still holds: seconds or minutes later, every writer of the database waiting
meanwhile. The engines' connections roll back as they close (store/db.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sqlite3
import threading

import pytest
from sqlalchemy import event, text

from opsjobs.store.db import ClosingConnection, Database

ROWS = 3


def with_table(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn``'s database in WAL mode, with a table ``t`` of ROWS rows."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(ROWS)])
    return conn


def undone(path: str) -> bool:
    """Whether the row the tests insert and never commit (-1) is absent."""
    with contextlib.closing(sqlite3.connect(path)) as check:
        return check.execute("SELECT count(*) FROM t WHERE a = -1").fetchone() == (0,)


@pytest.fixture
async def database(tmp_path):
    path = tmp_path / "cancelled.db"
    with_table(sqlite3.connect(path, isolation_level=None)).close()
    opened = Database(f"sqlite:///{path}", timeout=5)
    yield opened, str(path)
    await opened.dispose()


class Hold:
    """A SQL function ``hold(x)`` that stops its statement at its first row until released,
    so that a cancel lands while the statement is stepping, not between statements."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()

    def __call__(self, value: int) -> int:
        self.entered.set()
        self.released.wait(10)
        return value

    def install(self, engine) -> None:
        @event.listens_for(engine.sync_engine, "connect")
        def add(dbapi_connection, _record) -> None:
            dbapi_connection.create_function("hold", 1, self)


def free_for_writers(path: str) -> bool:
    """Whether another connection may write and then checkpoint the whole log at once:
    neither a write lock nor a snapshot is held anywhere."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        other.execute("INSERT INTO t VALUES (-2)")
        busy, _, _ = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return busy == 0
    except sqlite3.OperationalError as exc:
        assert "locked" in str(exc), exc
        return False
    finally:
        other.close()


@pytest.mark.parametrize("engine", ["writer", "reader"])
async def test_a_cancel_inside_a_statement_leaves_no_lock_and_no_snapshot(database, engine):
    db, path = database
    hold = Hold()
    hold.install(getattr(db, engine))

    async def work() -> None:
        transaction = db.writer.begin() if engine == "writer" else db.reader.connect()
        async with transaction as conn:
            if engine == "writer":
                await conn.execute(text("INSERT INTO t VALUES (-1)"))
            await conn.execute(text("SELECT hold(a) FROM t"))

    # The collector stays off, as between its rare full passes: the cancelled task's
    # exception keeps the statement's cursor for as long as the task is referenced.
    gc.disable()
    try:
        task = asyncio.create_task(work())
        assert await asyncio.to_thread(hold.entered.wait, 10)
        task.cancel()
        hold.released.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert free_for_writers(path)
        assert task.cancelled()  # held to here, and with it what its traceback holds
    finally:
        gc.enable()
    assert undone(path)


async def test_a_transaction_cancelled_between_statements_is_rolled_back(database):
    db, path = database
    inside = asyncio.Event()

    async def work() -> None:
        async with db.writer.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (-1)"))
            inside.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert free_for_writers(path)
    async with db.writer.begin() as conn:  # the engine's own connection goes on working
        assert (await conn.execute(text("SELECT count(*) FROM t WHERE a = -1"))).scalar() == 0


def test_a_closing_connection_ends_what_its_cursors_began_and_may_be_closed_twice(tmp_path):
    path = str(tmp_path / "closing.db")
    conn = with_table(sqlite3.connect(path, isolation_level=None, factory=ClosingConnection))
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (-1)")
    stepping = conn.cursor()
    stepping.execute("SELECT a FROM t")
    assert stepping.fetchone() is not None  # more rows to come: the statement is stepping
    shortcut = conn.execute("SELECT a FROM t")  # a cursor made by the shortcut
    assert shortcut.fetchone() is not None
    conn.close()
    assert free_for_writers(path)
    conn.close()  # as sqlite3's own: nothing more to do
    assert undone(path)
