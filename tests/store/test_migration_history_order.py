"""The 0011 migration: history indexes in list order replace ix_jobs_owner_time on a database
with jobs in it, and the way down puts it back; the jobs stay as they were."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.migrations import database_at, migrate_to
from opsjobs.store.db import normalize_url

BEFORE = "0010_batches"


async def _look(url: str) -> tuple[set[str], list]:
    engine = create_async_engine(normalize_url(url))
    async with engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: {i["name"] for i in inspect(c).get_indexes("jobs")})
        rows = (await conn.execute(text("SELECT id, status FROM jobs"))).all()
    await engine.dispose()
    return indexes, [tuple(r) for r in rows]


async def test_up_and_down_keep_the_jobs(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO jobs (id, owner_id, owner_type, timestamp, status) "
                    "VALUES ('6b0c3a99109606ffd3a35595', '1', 1, 5, 'succeeded')"
                )
            )
        await engine.dispose()
        await migrate_to(url, "0011_history_order")
        indexes, rows = await _look(url)
        assert {"ix_jobs_owner_order", "ix_jobs_time"} <= indexes
        assert "ix_jobs_owner_time" not in indexes
        assert rows == [("6b0c3a99109606ffd3a35595", "succeeded")]
        await migrate_to(url, BEFORE, down=True)
        indexes, rows = await _look(url)
        assert "ix_jobs_owner_time" in indexes
        assert not {"ix_jobs_owner_order", "ix_jobs_time"} & indexes
        assert rows == [("6b0c3a99109606ffd3a35595", "succeeded")]
