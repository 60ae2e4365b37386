"""Small SQLite write transactions done at once, on the event loop.

Through aiosqlite a transaction is a dozen hops to a worker thread and back, each waiting for
the GIL: milliseconds, on a writer that every job shares. The queue's own statements (claim,
output, finish, enqueue) touch a handful of rows by index and take microseconds in SQLite
itself, so they are run here synchronously on a connection of their own — the same bargain
``Store.job_row`` makes for reads.

Never at the cost of blocking the loop: the connection waits for no lock (busy timeout 0).
When another connection holds the write lock (the async writer in the middle of a
transaction, another process), ``Busy`` is raised and the caller takes the ordinary async
path. Checkpoints, which may fsync, are never done on the loop: every so many commits a
thread of its own runs a passive one.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CHECKPOINT_EVERY = 500  # commits


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
        self.path = path
        self._commits = 0
        self._checkpointing: threading.Thread | None = None
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
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY:
            self._checkpoint_soon()
        return result

    def _checkpoint_soon(self) -> None:
        if self._checkpointing is not None and self._checkpointing.is_alive():
            return
        self._commits = 0
        self._checkpointing = threading.Thread(target=self._checkpoint, daemon=True)
        self._checkpointing.start()

    def _checkpoint(self) -> None:
        try:
            with sqlite3.connect(self.path, timeout=30) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()
        except sqlite3.Error:
            pass  # the next one will do; the WAL only grows meanwhile

    def close(self) -> None:
        if self._checkpointing is not None:
            self._checkpointing.join()
        self.conn.close()
