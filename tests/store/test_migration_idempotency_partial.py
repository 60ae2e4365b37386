"""The 0012 migration: the idempotency index holds only keyed jobs, keeps one job per user and
key, still serves the key's lookup, and the way down puts the whole index back; the jobs stay
as they were."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.migrations import database_at, migrate_to
from opsjobs.store.db import normalize_url
from opsjobs.store.operations import _KEY_SQL

BEFORE = "0011_history_order"
AFTER = "0012_idempotency_partial"
INSERT = text(
    "INSERT INTO jobs (id, owner_id, owner_type, timestamp, status, user_id, idempotency_key) "
    "VALUES (:id, '1', 1, 5, 'succeeded', 'u', :key)"
)


def _job(n: int, key: str | None) -> dict:
    return {"id": f"{n:024x}", "key": key}


async def _definition(conn, backend: str) -> str:
    if backend == "sqlite":
        query = "SELECT sql FROM sqlite_master WHERE name = 'ux_jobs_idempotency'"
    else:
        query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'ux_jobs_idempotency'"
    return (await conn.execute(text(query))).scalar_one()


async def _plan(conn, backend: str) -> str:
    query = _KEY_SQL.replace("?", "'u'", 1).replace("?", "'k'", 1)
    if backend == "sqlite":
        rows = (await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}")).all()
    else:
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await conn.exec_driver_sql(f"EXPLAIN {query}")).all()
    return " ".join(str(step) for step in rows)


async def test_up_keeps_one_job_per_key_and_indexes_only_keyed_jobs(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            await conn.execute(INSERT, [_job(1, "k"), _job(2, None), _job(3, None)])
        await migrate_to(url, AFTER)
        async with engine.begin() as conn:
            assert "IS NOT NULL" in await _definition(conn, backend)
            assert "ux_jobs_idempotency" in await _plan(conn, backend)
            await conn.execute(INSERT, [_job(4, None), _job(5, "other")])
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(INSERT, _job(6, "k"))
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, idempotency_key FROM jobs"))).all()
        assert sorted(tuple(r) for r in rows) == [
            (f"{1:024x}", "k"),
            (f"{2:024x}", None),
            (f"{3:024x}", None),
            (f"{4:024x}", None),
            (f"{5:024x}", "other"),
        ]
        await engine.dispose()


async def test_down_puts_the_whole_index_back(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        await migrate_to(url, AFTER)
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            await conn.execute(INSERT, [_job(1, "k"), _job(2, None)])
        await migrate_to(url, BEFORE, down=True)
        async with engine.begin() as conn:
            assert "IS NOT NULL" not in await _definition(conn, backend)
            assert (await conn.execute(text("SELECT count(*) FROM jobs"))).scalar_one() == 2
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(INSERT, _job(3, "k"))
        await engine.dispose()
