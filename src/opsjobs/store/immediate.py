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
thread of its own runs one.

A commit costs SQLite several times the rows it writes, so the writes asked for in one turn
of the event loop (concurrent execute requests, a runner's claims and ends, live output)
are made in one transaction (``run_batched``), without savepoints unless one of them fails.

While that checkpoint runs, writes here wait for it (``ready``): a checkpoint can only
finish while nothing is appended to the log, and only a finished one lets the next write
begin the log anew. One running beside a writer that commits all the time never catches
up, and the log then only grows — hundreds of megabytes within minutes of steady load,
every write extending the file (the kernel zeroing its new pages) instead of reusing what is
cached. The checkpoint is PASSIVE all the same: it never waits for readers (a reader of an
older snapshot only defers the restart to the next one), so the pause is the copy itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CHECKPOINT_EVERY = 500  # commits
# Above this many bytes a write is not worth blocking the event loop for.
MAX_BYTES = 256 * 1024
# What ``try_immediate_write`` answers when the write is for the caller's async path.
NOT_WRITTEN = object()


class Busy(Exception):
    """The write lock is taken right now; use the async path."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in the low byte.
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


async def try_immediate_write(
    writer: ImmediateWriter | None,
    work: Callable[[sqlite3.Connection], Any],
    *retry_on: type[Exception],
    size: int = 0,
) -> Any:
    """``work`` through the immediate writer, or NOT_WRITTEN when that cannot be now: no writer
    (PostgreSQL), ``size`` bytes too many to write on the loop, the write lock taken, or one
    of ``retry_on`` raised (errors the caller's async path reports in its own terms)."""
    if writer is None or size > MAX_BYTES:
        return NOT_WRITTEN
    try:
        return await writer.run_batched(work)
    except (Busy, *retry_on):
        return NOT_WRITTEN


def _in_savepoint(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection], Any]) -> tuple:
    """(True, result) of ``work``, or (False, its exception) with its writes undone."""
    conn.execute("SAVEPOINT one_of_many")
    try:
        result = work(conn)
    except Exception as exc:
        conn.execute("ROLLBACK TO one_of_many")
        conn.execute("RELEASE one_of_many")
        return False, exc
    conn.execute("RELEASE one_of_many")
    return True, result


def consumed(
    conn: sqlite3.Connection, sql: str, params: tuple, consume: Callable[[sqlite3.Cursor], T]
) -> T:
    """``consume`` of the cursor of ``sql`` on ``conn``; the statement ends when ``consume``
    returns or raises, whatever rows were left, so the read holds no snapshot after it."""
    cursor = conn.execute(sql, params)
    try:
        return consume(cursor)
    finally:
        cursor.close()


class ImmediateWriter:
    def __init__(self, path: str, map_bytes: int = 0) -> None:
        self.path = path
        self._commits = 0
        self._checkpointing: threading.Thread | None = None
        # Done when the running checkpoint is over; None when none runs.
        self._checkpoint_over: asyncio.Future[None] | None = None
        # Work asked for in this turn of the event loop, for one transaction (run_batched).
        self._batch: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future]] = []
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in (
            "PRAGMA busy_timeout=0",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA wal_autocheckpoint=0",
            # Pages read through a map of the file, as the process's reader maps them.
            f"PRAGMA mmap_size={int(map_bytes)}",
        ):
            self.conn.execute(pragma)

    def read(self, sql: str, params: tuple, consume: Callable[[sqlite3.Cursor], T]) -> T:
        """``consume`` of a read's cursor, on this connection between its transactions; the
        statement ends when ``consume`` returns, whatever rows were left, so no snapshot is
        held after it.

        A connection's page cache outlives its own commits, not another connection's: right
        after a write here, a point read on a connection of its own drops its cache and
        reads its pages again, several times what the same read costs here
        (docs/decisions.md, "Point reads on the writer's connection"). Busy when the read
        cannot begin or go on at once: this connection waits for no lock.

        Only a SELECT is read here: this connection writes, so a statement that would write
        is refused rather than committed unseen by ``run`` (a read-only connection refused
        it before).
        """
        if not sql.startswith("SELECT "):
            raise ValueError("only a SELECT is read on the immediate writer's connection")
        if self.conn.in_transaction:  # it would see writes not yet committed
            raise RuntimeError("a read inside the immediate writer's transaction")
        try:
            return consumed(self.conn, sql, params, consume)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise Busy() from exc
            raise

    async def ready(self) -> None:
        """Return once no checkpoint of ours runs (see the module's docstring)."""
        while self._checkpoint_over is not None:
            await asyncio.shield(self._checkpoint_over)

    async def run_batched(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(conn)`` in one transaction with all other work asked for in the same turn
        of the event loop (concurrent requests, a runner's claims and ends): a commit costs
        SQLite several times the rows it writes, so they share one. One that raises gets
        its exception and leaves the others' writes in place (``_run_group``). When the
        lock is taken, every one of them gets Busy."""
        await self.ready()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._batch.append((work, done))
        if len(self._batch) == 1:
            loop.call_soon(self._commit_batch)
        return await done

    def _commit_batch(self) -> None:
        # A caller that went away before its turn (cancelled) writes nothing.
        group = [(work, done) for work, done in self._batch if not done.done()]
        self._batch = []
        if not group:
            return
        try:
            outcomes = self._run_group([work for work, _ in group])
        except Busy:
            for _, done in group:
                done.set_exception(Busy())
            return
        except Exception as exc:  # nothing was written
            for _, done in group:
                done.set_exception(exc)
            return
        for (_, done), (ok, value) in zip(group, outcomes, strict=True):
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    def _run_group(self, works: list[Callable[[sqlite3.Connection], Any]]) -> list[tuple]:
        """(ok, result or exception) of each work, all in one transaction. First without
        savepoints, which cost two statements a work: the queue's writes all but never
        fail. If one does, the whole transaction is rolled back (nothing is written) and
        the group runs again, each work in a savepoint of its own, so that only the one
        that fails fails."""
        if len(works) == 1:
            return [(True, self.run(works[0]))]
        try:
            return [(True, result) for result in self.run(lambda conn: [w(conn) for w in works])]
        except Busy:
            raise
        except Exception:  # rolled back by run(): nothing was written
            return self.run(lambda conn: [_in_savepoint(conn, w) for w in works])

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
            self._start_checkpoint()
        return result

    def _start_checkpoint(self) -> None:
        if self._checkpointing is not None and self._checkpointing.is_alive():
            return
        self._commits = 0
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # used outside an event loop: nobody to tell
            loop = None
        over = loop.create_future() if loop is not None else None
        self._checkpoint_over = over
        self._checkpointing = threading.Thread(
            target=self._checkpoint, args=(loop, over), daemon=True
        )
        self._checkpointing.start()

    def _checkpoint(
        self, loop: asyncio.AbstractEventLoop | None, over: asyncio.Future[None] | None
    ) -> None:
        try:
            with sqlite3.connect(self.path, timeout=30) as conn:
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.close()
        except sqlite3.Error:
            pass  # the next one will do; the log only grows meanwhile
        finally:
            if loop is not None:
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    loop.call_soon_threadsafe(self._checkpointed, over)

    def _checkpointed(self, over: asyncio.Future[None] | None) -> None:
        if self._checkpoint_over is over:
            self._checkpoint_over = None
        if over is not None and not over.done():
            over.set_result(None)

    def close(self) -> None:
        if self._checkpointing is not None:
            self._checkpointing.join()
        self._checkpoint_over = None
        self.conn.close()
