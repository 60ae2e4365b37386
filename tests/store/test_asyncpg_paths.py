"""The PostgreSQL hot paths that run on asyncpg directly (Database.on_asyncpg: fetch_row,
store/queue_pg.py): a pooled connection that PostgreSQL has dropped fails the statement it
was taken for, as any path would, and is not handed out again."""

from __future__ import annotations

import asyncpg
import pytest

from helpers.execution import opened_store
from opsjobs.store.db import asyncpg_dsn

REVISION = "SELECT value FROM revisions WHERE name = ?"


async def _drop_connections(url: str) -> int:
    """Terminate every other backend connected to the database of ``url``."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()


async def test_a_dropped_connection_fails_once_and_is_not_used_again(database_url, backend):
    if backend != "postgresql":
        pytest.skip("the asyncpg paths are PostgreSQL's")
    async with opened_store(database_url) as store:
        before = await store.fetch_row(REVISION, ("directory",))
        assert before is not None
        assert await _drop_connections(database_url) >= 1
        # The pooled connection is gone: its statement fails (whatever the driver makes of
        # the dropped link), or a fresh connection answers.
        try:
            await store.fetch_row(REVISION, ("directory",))
        except Exception as exc:
            assert not isinstance(exc, AssertionError)
        for _ in range(3):  # and from then on every call has a live connection
            assert await store.fetch_row(REVISION, ("directory",)) == before
