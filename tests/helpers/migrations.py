"""Databases at an older schema revision, for tests of the migrations that follow it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import PG_URL
from opsjobs.store.db import Database, normalize_url
from opsjobs.store.migrate import alembic_config


async def migrate_to(url: str, revision: str, *, down: bool = False) -> None:
    """Upgrade the database at ``url`` to ``revision`` (not further); downgrade, with
    ``down``."""
    database = Database(url)
    config = alembic_config(database.url)
    move = command.downgrade if down else command.upgrade

    def run(sync_conn) -> None:
        config.attributes["connection"] = sync_conn
        move(config, revision)

    async with database.writer.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()
    await database.dispose()


@asynccontextmanager
async def database_at(backend: str, tmp_path: Path, revision: str) -> AsyncIterator[str]:
    """The URL of a new, empty database at ``revision`` on ``backend`` (a PostgreSQL one is
    dropped afterwards)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        await migrate_to(url, revision)
        yield url
        return
    admin_url = normalize_url(PG_URL)
    name = f"opsjobs_migration_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin_url.rsplit("/", 1)[0] + "/" + name
        await migrate_to(url, revision)
        yield url
    finally:
        async with engine.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()
