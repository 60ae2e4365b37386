"""The 0007 migration adds the schedules table (indexed on next_run_at) to a database at the
previous head, and takes it away again on the way down."""

from __future__ import annotations

from sqlalchemy import inspect

from helpers.migrations import database_at, migrate_to
from opsjobs.store.db import Database

PREVIOUS_HEAD = "0007_audit_log"


async def _tables_and_indexes(url: str) -> tuple[set[str], set[str]]:
    database = Database(url)

    def read(sync_conn):
        found = inspect(sync_conn)
        tables = set(found.get_table_names())
        indexes = (
            {i["name"] for i in found.get_indexes("schedules")} if "schedules" in tables else set()
        )
        return tables, indexes

    async with database.reader.connect() as conn:
        result = await conn.run_sync(read)
    await database.dispose()
    return result


async def test_up_and_down(backend, tmp_path):
    async with database_at(backend, tmp_path, PREVIOUS_HEAD) as url:
        assert "schedules" not in (await _tables_and_indexes(url))[0]
        await migrate_to(url, "0008_schedules")
        tables, indexes = await _tables_and_indexes(url)
        assert "schedules" in tables
        assert {"ix_schedules_next_run", "ix_schedules_owner"} <= indexes
        await migrate_to(url, PREVIOUS_HEAD, down=True)
        assert "schedules" not in (await _tables_and_indexes(url))[0]
