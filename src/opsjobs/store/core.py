"""The store of one process: the database engines, the directory view and the job reader."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.jobs import DOCUMENT_COLUMNS, JobRow
from .db import DEFAULT_TIMEOUT_SECONDS, Database, sqlite_path
from .directory import Directory, read_sqlite
from .immediate import Busy, ImmediateWriter, consumed
from .migrate import is_current
from .signals import JobSignals

_JOB_SQL = "SELECT " + ", ".join(f'"{c}"' for c in DOCUMENT_COLUMNS) + " FROM jobs WHERE id = ?"
# The same row together with the directory revision, read in one statement and so from one
# snapshot: always one row, whose job columns are NULL when there is no such job.
_JOB_AT_SQL = (
    "SELECT r.value, "
    + ", ".join(f'j."{c}"' for c in DOCUMENT_COLUMNS)
    + " FROM revisions r LEFT JOIN jobs j ON j.id = ? WHERE r.name = 'directory'"
)
_REVISION_SQL = "SELECT value FROM revisions WHERE name = 'directory'"
# How much of the database file the connections of point reads map (SQLite caps it at its
# build's limit).
READ_MAP_BYTES = 1 << 31
T = TypeVar("T")


@functools.cache
def numbered(sql: str) -> str:
    """``?`` marks as PostgreSQL's $1, $2, ... (the statements here hold no other ``?``)."""
    parts = sql.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def _nothing() -> None:
    pass


def _retrieved(done: asyncio.Future) -> None:
    # A failed reload reaches every caller that waits for it; one nobody waits for any more
    # is not logged as never retrieved.
    if not done.cancelled():
        done.exception()


class NotMigrated(RuntimeError):
    pass


class Store:
    def __init__(self, database_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.db = Database(database_url, timeout)
        self.directory = Directory()
        self._sqlite_reader: sqlite3.Connection | None = None
        # SQLite only: the queue's small writes, done at once when the lock is free.
        self.immediate: ImmediateWriter | None = None
        # Set when this process queued a job: the embedded runner waits on it instead of
        # polling. (Runners in other processes are woken through the database.)
        self.jobs_queued = asyncio.Event()
        # Output written, job finished, cancel requested: in-process wake-ups (see signals.py).
        self.job_signals = JobSignals()
        # Set when another process says users, rights or the object graph changed (NOTIFY on
        # PostgreSQL); whoever follows the directory reloads then instead of at its next poll.
        self.directory_changed = asyncio.Event()
        # A state change here started a trigger firing (store/states.py), or another
        # process's did (relayed by store/listen.py): the dispatcher looks at once.
        self.firings_due = asyncio.Event()
        # A job ended here (finished, lost or cancelled while queued): the dispatcher moves
        # running batches on at once (execution/dispatcher.py).
        self.jobs_ended = asyncio.Event()
        # The reload under way, which every request that must catch up waits for.
        self._reloading: asyncio.Future[None] | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    async def open(self) -> None:
        if not await is_current(self.db):
            raise NotMigrated(
                f"the database {self.db.url.split('@')[-1]} is not migrated: run `opsjobs migrate`"
            )
        await self.reload_directory()
        if self.is_sqlite:
            path = sqlite_path(self.db.url)
            # Point reads of one row by primary key take microseconds on SQLite; done on the
            # event loop they cost less than a hop to a worker thread would.
            self._sqlite_reader = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None
            )
            self._sqlite_reader.execute("PRAGMA query_only=ON")
            # Its pages read through a map of the file rather than read() into a cache of its
            # own: on a database larger than the page cache (a million jobs) a point read
            # then costs no system calls, and the pages are the OS cache's, not a copy.
            self._sqlite_reader.execute(f"PRAGMA mmap_size={READ_MAP_BYTES}")
            self.immediate = ImmediateWriter(path, READ_MAP_BYTES)

    async def close(self) -> None:
        if self._sqlite_reader is not None:
            self._sqlite_reader.close()
            self._sqlite_reader = None
        if self.immediate is not None:
            self.immediate.close()
            self.immediate = None
        await self.db.dispose()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def writer_turn(self) -> AsyncIterator[None]:
        """Wait until this process's async writer is free, and keep it so, without taking the
        write lock: for the immediate writer (immediate.py) to try again, rather than take
        the slow path, when it found the lock held by an async transaction here."""
        async with self.db.writer.connect():
            yield

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.reader.connect() as conn:
            yield conn

    async def refresh_directory(self) -> None:
        async with self.read() as conn:
            await self.directory.refresh_if_stale(conn)

    async def reload_directory(self) -> None:
        path = sqlite_path(self.db.url) if self.is_sqlite else None
        if path and path != ":memory:":
            # One hop to a thread for the whole read: through aiosqlite each row would hop.
            read = functools.partial(asyncio.to_thread, read_sqlite, path)
            await self.directory.load_with(read, _nothing)
            return
        async with self.read() as conn:
            if not self.is_sqlite:
                # One snapshot for all the tables (SQLite's read transaction is one already).
                await conn.execution_options(isolation_level="REPEATABLE READ")
            await self.directory.load(conn)

    async def directory_revision(self) -> int:
        """The directory revision in the database now: one read of one row by key."""
        return int((await self.fetch_row(_REVISION_SQL, ()))[0])

    async def catch_up(self, revision: int | None = None) -> bool:
        """Make the directory at least as new as ``revision`` (default: the database's now),
        so that nothing acknowledged before the call is missing from it. Answers whether it
        had to reload.

        This is what gives read-your-writes across processes and hosts (docs/deployment.md):
        every request calls it before it decides anything from the directory, or reads the
        revision along with its own row and calls it when that is newer (GET /jobs/:id).
        Concurrent callers share one reload.
        """
        if revision is None:
            revision = await self.directory_revision()
        if revision <= self.directory.revision:
            return False
        # A reload already under way may have read before ``revision`` was; the next one
        # reads after, so two are always enough.
        for _ in range(2):
            if revision <= self.directory.revision:
                break
            if self._reloading is None:
                self._reloading = asyncio.ensure_future(self._reload_once())
                self._reloading.add_done_callback(_retrieved)
            # Shielded: a caller that goes away does not cancel the others' reload.
            await asyncio.shield(self._reloading)
        return True

    async def _reload_once(self) -> None:
        try:
            await self.reload_directory()
        finally:
            self._reloading = None

    async def fetch_row(self, sql: str, params: tuple) -> tuple | None:
        """The first row of ``sql``, a read of a few rows by index written with ``?`` marks.

        On SQLite it runs at once on the loop (``sqlite_read``): such a read takes
        microseconds, less than a hop to aiosqlite's thread would, and far less than
        SQLAlchemy's statement machinery around it. On PostgreSQL it goes through the pool
        to asyncpg with the marks numbered ($1, $2, ...), outside any transaction.
        """
        if self.immediate is not None:
            return self.sqlite_read(sql, params, sqlite3.Cursor.fetchone)
        # On asyncpg itself: one round trip, where through SQLAlchemy the statement would
        # come between a BEGIN and a ROLLBACK of their own.
        row = await self.db.on_asyncpg(lambda conn: conn.fetchrow(numbered(sql), *params))
        return tuple(row) if row is not None else None

    def sqlite_read(self, sql: str, params: tuple, consume: Callable[[sqlite3.Cursor], T]) -> T:
        """SQLite only: ``consume`` of the cursor of ``sql``, a read of a few rows by index,
        at once on the loop; the statement ends when ``consume`` returns.

        It reads on the immediate writer's connection, whose page cache this process's own
        writes leave valid (``ImmediateWriter.read``); on the read-only connection only when
        that one cannot read at once, as the read-only one waits for a lock. ``consume``
        may then run a second time, over the whole read again.
        """
        if self.immediate is None or self._sqlite_reader is None:
            raise RuntimeError("the store is not open on SQLite")
        try:
            return self.immediate.read(sql, params, consume)
        except Busy:
            pass  # rare (a WAL recovery, another process's exclusive lock)
        return consumed(self._sqlite_reader, sql, params, consume)

    async def job_row(self, job_id: str) -> JobRow | None:
        """One job's row."""
        found = await self.fetch_row(_JOB_SQL, (job_id,))
        return None if found is None else JobRow._make(found)

    async def job_row_at(self, job_id: str) -> tuple[int, JobRow | None]:
        """The directory revision and one job's row (None when there is no such job), from
        one snapshot in one statement: the hot path of GET /node/api/jobs/:id, which thereby
        learns whether its directory is current without another query."""
        found = await self.fetch_row(_JOB_AT_SQL, (job_id,))
        return int(found[0]), (JobRow._make(found[1:]) if found[1] is not None else None)
