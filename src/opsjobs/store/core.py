"""The store of one process: the database engines, the directory view and the job reader."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import StaticPool

from ..domain.jobs import DOCUMENT_COLUMNS
from .db import Database, sqlite_path
from .directory import Directory
from .immediate import ImmediateWriter
from .migrate import is_current
from .signals import JobSignals

T = TypeVar("T")

_JOB_SQL = "SELECT " + ", ".join(f'"{c}"' for c in DOCUMENT_COLUMNS) + " FROM jobs WHERE id = "


class NotMigrated(RuntimeError):
    pass


class Store:
    def __init__(self, database_url: str) -> None:
        self.db = Database(database_url)
        self.directory = Directory()
        self._sqlite_reader: sqlite3.Connection | None = None
        self._reads_now: Engine | None = None
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

    @property
    def is_sqlite(self) -> bool:
        return self.db.is_sqlite

    async def open(self) -> None:
        if not await is_current(self.db):
            raise NotMigrated(
                f"the database {self.db.url.split('@')[-1]} is not migrated: run `opsjobs migrate`"
            )
        async with self.db.reader.connect() as conn:
            await self.directory.load(conn)
        if self.is_sqlite:
            path = sqlite_path(self.db.url)
            # Point reads of one row by primary key take microseconds on SQLite; done on the
            # event loop they cost less than a hop to a worker thread would.
            self._sqlite_reader = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None
            )
            self._sqlite_reader.execute("PRAGMA query_only=ON")
            reader = self._sqlite_reader
            self._reads_now = create_engine(
                "sqlite://", creator=lambda: reader, poolclass=StaticPool
            )
            self.immediate = ImmediateWriter(path)

    async def close(self) -> None:
        if self._reads_now is not None:
            self._reads_now.dispose()
            self._reads_now = None
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
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.db.reader.connect() as conn:
            yield conn

    async def read_now(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(conn)``, a few indexed reads written as plain SQLAlchemy Core.

        On SQLite it runs at once on the loop, on the read-only connection of ``job_row``:
        microseconds, against milliseconds for each aiosqlite hop to its thread. On
        PostgreSQL it runs through ``run_sync`` on a pooled asyncpg connection.
        """
        if self._reads_now is not None:
            with self._reads_now.connect() as conn:
                return work(conn)
        async with self.db.reader.connect() as conn:
            return await conn.run_sync(work)

    async def refresh_directory(self) -> None:
        async with self.read() as conn:
            await self.directory.refresh_if_stale(conn)

    async def reload_directory(self) -> None:
        async with self.read() as conn:
            await self.directory.load(conn)

    async def job_row(self, job_id: str) -> tuple | None:
        """The DOCUMENT_COLUMNS of one job, the hot path of GET /node/api/jobs/:id."""
        if self._sqlite_reader is not None:
            return self._sqlite_reader.execute(_JOB_SQL + "?", (job_id,)).fetchone()
        async with self.db.reader.connect() as conn:
            result = await conn.exec_driver_sql(_JOB_SQL + "$1", (job_id,))
            row = result.fetchone()
            return tuple(row) if row is not None else None
