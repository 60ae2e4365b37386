"""Engines for SQLite (default, WAL) and PostgreSQL, chosen by the database URL."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import sqlite3
import weakref
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import event, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .channels import DIRECTORY_CHANNEL, notify
from .schema import revisions

T = TypeVar("T")

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)

# PostgreSQL: the most connections SQLAlchemy's pool keeps, and the most plain asyncpg ones
# the hot paths keep (Database.on_asyncpg).
POOLED_CONNECTIONS = 15
DIRECT_CONNECTIONS = 15

# How long a statement waits for the database when nothing else says (commands, migrations).
DEFAULT_TIMEOUT_SECONDS = 30.0


class ClosingConnection(sqlite3.Connection):
    """A SQLite connection that ends its statements and its transaction before it closes.

    SQLAlchemy throws away a connection whose task was cancelled in the middle of a
    statement (a shutdown, a request's time limit), closing it without a rollback. SQLite
    closes a connection whose statement is still stepping only once that statement is
    finalized, when the garbage collector frees the cursor the cancelled task's traceback
    holds: until then its transaction lives on, and with it the write lock every writer of
    the database waits for, or the snapshot that keeps the log from being checkpointed.
    So the connection keeps its cursors (weakly) and closes them first, then rolls back.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursors: weakref.WeakSet[sqlite3.Cursor] = weakref.WeakSet()

    def cursor(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:
        cursor = super().cursor(*args, **kwargs)
        self._cursors.add(cursor)
        return cursor

    # sqlite3's own shortcuts make their cursors without ``cursor()``.
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> sqlite3.Cursor:
        return self.cursor().executemany(sql, parameters)

    def close(self) -> None:
        # A connection closed already refuses both; it is closed all the same.
        with contextlib.suppress(sqlite3.Error):
            for cursor in list(self._cursors):
                cursor.close()  # resets its statement, whatever rows were left
            if self.in_transaction:
                self.rollback()
        super().close()


def normalize_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in (
        "postgresql",
        "postgres",
        "postgresql+psycopg2",
        "postgresql+psycopg",
    ):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """The database URL as asyncpg takes it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return parsed.database or ":memory:"


class DirectConnections:
    """Plain asyncpg connections for ``Database.on_asyncpg``: at most ``size`` in use at
    once, each kept once opened, the most recently used handed out first.

    What runs on them is one statement outside any transaction, or a transaction that is
    over before the connection comes back, so a connection needs no reset between uses (an
    asyncpg pool would send one, a round trip, on every release)."""

    def __init__(self, dsn: str, size: int, timeout: float) -> None:
        self._dsn = dsn
        self._timeout = timeout
        self._idle: list[Any] = []
        self._slots = asyncio.Semaphore(size)
        # Moved on when the connections are found broken or closed: one that was in use
        # then is closed when it comes back rather than kept.
        self._generation = 0

    async def run(
        self, work: Callable[[Any], Awaitable[T]], on_broken: Callable[[], Awaitable[None]]
    ) -> T:
        """``work(connection)``; a connection that fails for anything but a statement
        PostgreSQL refused is dropped with every idle one, ``on_broken`` is awaited and the
        error raised as SQLAlchemy reports a disconnect."""
        if self._slots.locked():
            await self._wait_for_slot()
        else:
            await self._slots.acquire()  # at once: no timer to arm and cancel
        try:
            generation = self._generation
            conn = self._idle.pop() if self._idle else await self._connect()
            try:
                result = await work(conn)
            except BaseException as exc:
                if _statement_error(exc) and not conn.is_in_transaction():
                    self._give_back(conn, generation)
                    raise
                # Its state is unknown: thrown away, and with it every idle one unless
                # the caller was only cancelled.
                conn.terminate()
                if isinstance(exc, asyncio.CancelledError):
                    raise
                self._forget()
                await on_broken()
                # As SQLAlchemy reports a disconnect, so that callers (and the API's 503)
                # take it for the outage it is, whatever the driver made of the dropped link.
                raise sqlalchemy.exc.OperationalError(
                    None, None, exc, connection_invalidated=True
                ) from exc
            self._give_back(conn, generation)
            return result
        finally:
            self._slots.release()

    async def _wait_for_slot(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:  # as SQLAlchemy's pool says it: the API answers 503
            raise sqlalchemy.exc.TimeoutError(
                f"no free database connection within {self._timeout} s"
            ) from None

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self._dsn, timeout=self._timeout)

    def _give_back(self, conn: Any, generation: int) -> None:
        if generation == self._generation and not conn.is_closed():
            self._idle.append(conn)
        else:
            conn.terminate()

    def _forget(self) -> None:
        """Drop the idle connections; those in use are dropped when they come back."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.terminate()

    async def close(self) -> None:
        self._generation += 1
        idle, self._idle = self._idle, []
        for conn in idle:
            try:
                await conn.close(timeout=self._timeout)
            except Exception:  # a link already broken: nothing left to say goodbye to
                conn.terminate()


class Database:
    """The engines of one database.

    On SQLite, writes go through a single connection that begins ``IMMEDIATE``: SQLite has one
    writer at a time anyway, and taking the lock up front avoids the deadlock of two readers
    upgrading at once. Reads use their own pool and never wait for writers (WAL).
    On PostgreSQL both are the same pool, and the hot paths have plain asyncpg connections of
    their own (``on_asyncpg``).
    """

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        """``timeout`` bounds every wait for the database: for a lock on SQLite, for a new
        connection and for a free one from the pool on PostgreSQL. A database that is down
        then fails a request within about that time (api/errors.py answers 503) rather than
        holding it."""
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.timeout = timeout
        self.direct: DirectConnections | None = None
        if self.is_sqlite:
            path = sqlite_path(self.url)
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._sqlite_engine(begin="BEGIN IMMEDIATE", pool_size=1)
            self.reader = self._sqlite_engine(begin="BEGIN", pool_size=4)
        else:
            # At most 30 connections, none opened for one statement and closed after (under
            # 16 concurrent requests that churn, connect and the driver's set-up queries, cost
            # the server more CPU than the statements): 15 kept for SQLAlchemy's statements,
            # and up to 15 plain asyncpg ones for the hot paths (``on_asyncpg``).
            self.writer = create_async_engine(
                self.url,
                pool_size=POOLED_CONNECTIONS,
                max_overflow=0,
                pool_timeout=timeout,
                connect_args={"timeout": timeout},
            )
            self.reader = self.writer
            self.direct = DirectConnections(asyncpg_dsn(self.url), DIRECT_CONNECTIONS, timeout)

    def _sqlite_engine(self, begin: str, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=self.timeout,
            connect_args={"timeout": self.timeout, "factory": ClosingConnection},
        )
        busy_timeout = f"PRAGMA busy_timeout={int(self.timeout * 1000)}"

        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection, _record) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in (*SQLITE_PRAGMAS, busy_timeout):
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(conn) -> None:
            conn.exec_driver_sql(begin)

        return engine

    async def on_asyncpg(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """``work(asyncpg connection)`` on a connection of the hot paths, outside any
        transaction: one round trip, no statement compiled, and no SQLAlchemy checkout around
        it (that cost three times the round trip's own CPU). A connection found broken
        (PostgreSQL restarted, the link dropped) is thrown away with every other idle one,
        of both pools, as SQLAlchemy does when its own statements meet a disconnect; the
        error is the caller's."""
        return await self.direct.run(work, self._on_broken)

    async def _on_broken(self) -> None:
        with contextlib.suppress(Exception):
            await self.writer.dispose(close=False)

    async def dispose(self) -> None:
        if self.direct is not None:
            await self.direct.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


async def bump_revision(conn: AsyncConnection, name: str = "directory") -> int:
    """Mark users, rights or the object graph as changed, inside the changing transaction.

    On PostgreSQL a NOTIFY goes with it (delivered at commit), so other processes reload at
    once rather than at their next poll.
    """
    result = await conn.execute(
        update(revisions)
        .where(revisions.c.name == name)
        .values(value=revisions.c.value + 1)
        .returning(revisions.c.value)
    )
    await notify(conn, DIRECTORY_CHANNEL, name)
    return int(result.scalar_one())


# -- outages --------------------------------------------------------------------------------

# What SQLite says when the file is locked by someone else, cannot be opened or written.
_SQLITE_UNAVAILABLE = (
    "database is locked",
    "database table is locked",
    "database is busy",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "readonly database",
)
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ETIMEDOUT,
        errno.EPIPE,
    }
)


def database_error_types() -> tuple[type[BaseException], ...]:
    """The kinds of exception a failing database arrives as (``unavailable`` tells which
    of them mean an outage rather than a fault in a statement)."""
    import asyncpg

    return (
        sqlalchemy.exc.SQLAlchemyError,
        sqlite3.Error,
        OSError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
    )


def _statement_error(exc: BaseException) -> bool:
    """Whether PostgreSQL refused a statement (a constraint, a deadlock) on a connection
    that is still good; anything else (the link, the server going away, a cancelled wait,
    the driver confused) leaves the connection of no further use."""
    import asyncpg

    return isinstance(exc, asyncpg.PostgresError) and not isinstance(
        exc, asyncpg.PostgresConnectionError | asyncpg.exceptions.OperatorInterventionError
    )


def _says_unavailable(exc: BaseException) -> bool:
    import asyncpg

    if isinstance(exc, sqlalchemy.exc.TimeoutError):  # no free connection in the pool
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror):
        return True
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return True
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(part in message for part in _SQLITE_UNAVAILABLE)
    if isinstance(
        exc,
        # Class 08 (connection), 57 (shutdown, cannot connect now, cancelled), 53 (too many
        # connections, disk full, out of memory).
        asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError,
    ):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc)


def unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it wraps) says the database cannot be reached or used now,
    as opposed to a fault in a statement: the request may succeed when retried later."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        if _says_unavailable(exc):
            return True
        pending += [getattr(exc, "orig", None), exc.__cause__]
    return False
