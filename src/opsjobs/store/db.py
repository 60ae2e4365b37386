"""Engines for SQLite (default, WAL) and PostgreSQL, chosen by the database URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .schema import revisions

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=30000",
)


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


def sqlite_path(url: str) -> str | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return parsed.database or ":memory:"


class Database:
    """The engines of one database.

    On SQLite, writes go through a single connection that begins ``IMMEDIATE``: SQLite has one
    writer at a time anyway, and taking the lock up front avoids the deadlock of two readers
    upgrading at once. Reads use their own pool and never wait for writers (WAL).
    On PostgreSQL both are the same pool.
    """

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            path = sqlite_path(self.url)
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.writer = self._sqlite_engine(begin="BEGIN IMMEDIATE", pool_size=1)
            self.reader = self._sqlite_engine(begin="BEGIN", pool_size=4)
        else:
            self.writer = create_async_engine(self.url, pool_size=10, max_overflow=20)
            self.reader = self.writer

    def _sqlite_engine(self, begin: str, pool_size: int) -> AsyncEngine:
        engine = create_async_engine(
            self.url, pool_size=pool_size, max_overflow=0, connect_args={"timeout": 30}
        )

        @event.listens_for(engine.sync_engine, "connect")
        def on_connect(dbapi_connection, _record) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def on_begin(conn) -> None:
            conn.exec_driver_sql(begin)

        return engine

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


DIRECTORY_CHANNEL = "opsjobs_directory"


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
    if conn.dialect.name == "postgresql":
        await conn.execute(select(func.pg_notify(DIRECTORY_CHANNEL, name)))
    return int(result.scalar_one())
