"""Alembic migrations, applied and checked from code (``opsjobs migrate``, ``serve``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

from .db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def upgrade(database: Database) -> None:
    config = alembic_config(database.url)

    def run(sync_conn) -> None:
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "head")

    async with database.writer.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


async def current_revision(conn: AsyncConnection) -> str | None:
    return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def is_current(database: Database) -> bool:
    async with database.reader.connect() as conn:
        return await current_revision(conn) == head_revision()
