"""The 0013 migration: the queue of untagged jobs gets its index in claim order, holding the
queued jobs without a tag; the way down drops it; the jobs stay as they were."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.migrations import database_at, migrate_to
from opsjobs.store.db import normalize_url

BEFORE = "0012_idempotency_partial"
AFTER = "0013_untagged_queue"
INSERT = text(
    "INSERT INTO jobs (id, owner_id, owner_type, timestamp, status, runner_tag) "
    "VALUES (:id, '1', 1, :n, :status, :tag)"
)
JOBS = [
    {"id": f"{n:024x}", "n": n, "status": status, "tag": tag}
    for n, (status, tag) in enumerate(
        [("queued", None), ("queued", ""), ("queued", "gpu"), ("succeeded", None)]
    )
]


async def _definition(conn, backend: str) -> str | None:
    if backend == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE name = 'ix_jobs_queue_untagged'"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_jobs_queue_untagged'"
    return (await conn.execute(text(query))).scalar_one_or_none()


async def _untagged_queue(conn) -> list[str]:
    query = (
        "SELECT id FROM jobs WHERE status = 'queued' AND (runner_tag IS NULL OR runner_tag = '') "
        "ORDER BY priority, timestamp, id"
    )
    return list((await conn.execute(text(query))).scalars())


async def test_up_indexes_the_untagged_queue_in_claim_order(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            await conn.execute(INSERT, JOBS)
        await migrate_to(url, AFTER)
        async with engine.begin() as conn:
            definition = await _definition(conn, backend)
            assert definition is not None
            assert "priority" in definition and "runner_tag" in definition
            assert await _untagged_queue(conn) == [JOBS[0]["id"], JOBS[1]["id"]]
            assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one() == 4
        await engine.dispose()


async def test_down_drops_the_index_and_keeps_the_jobs(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        await migrate_to(url, AFTER)
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            await conn.execute(INSERT, JOBS)
        await migrate_to(url, BEFORE, down=True)
        async with engine.begin() as conn:
            assert await _definition(conn, backend) is None
            assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one() == 4
        await engine.dispose()
