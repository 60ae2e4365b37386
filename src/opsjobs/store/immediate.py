"""Small SQLite write transactions done at once, on the event loop.

Through aiosqlite a transaction is a dozen hops to a worker thread and back, each waiting for
the GIL: milliseconds, on a writer that every job shares. The queue's own statements (claim,
output, finish, enqueue) touch a handful of rows by index and take microseconds in SQLite
itself, so they are run here synchronously on a connection of their own — the same bargain
``Store.job_row`` makes for reads.

Never at the cost of blocking the loop: the connection waits for no lock (busy timeout 0).
When another connection holds the write lock (the async writer in the middle of a
transaction, another process), ``Busy`` is raised and the caller takes the ordinary async
path. Checkpoints are left to the other connections, as they may fsync.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Busy(Exception):
    """The write lock is taken right now; use the async path."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


class ImmediateWriter:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in (
            "PRAGMA busy_timeout=0",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA wal_autocheckpoint=0",
        ):
            self.conn.execute(pragma)

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` in one immediate transaction, or Busy (nothing written)."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy() from exc
            raise
        try:
            result = work(self.conn)
            self.conn.execute("COMMIT")
        except BaseException as exc:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise Busy() from exc
            raise
        return result

    def close(self) -> None:
        self.conn.close()
