"""The claim's plan (docs/decisions.md, "The claim's plan"): a runner without tags reads the
first entries of ``ix_jobs_queue_untagged``, which are in claim order, and sorts nothing,
however deep the queue and whatever the database's statistics say. The case that made
PostgreSQL read and sort the whole queue on every claim: statistics taken while nothing was
queued, then a backlog. Both backends; on PostgreSQL both statements that claim (the claim
loop's, and the one that stores ends and claims at once)."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from helpers.execution import opened_store, true_job_row
from opsjobs.store import queue, queue_pg, queue_sqlite
from opsjobs.store.db import sqlite_path
from opsjobs.store.jobs import insert_jobs

HISTORY = 2000
BACKLOG = 2000
TAGGED = 50  # jobs for tagged runners only, older than the whole backlog


def _rows(count: int, first: int, status: str, tag: str | None = None) -> list[dict]:
    return [
        {**true_job_row(first + n, tag=tag), "id": f"{first + n:024x}", "status": status}
        for n in range(count)
    ]


@pytest.fixture
async def backlog(database_url, backend):
    """A store whose statistics were taken over finished jobs only, then a deep queue."""
    async with opened_store(database_url) as store:
        await insert_jobs(store, _rows(HISTORY, 1, "succeeded"))
        async with store.write() as conn:
            await conn.exec_driver_sql("ANALYZE jobs" if backend == "postgresql" else "ANALYZE")
        await insert_jobs(store, _rows(TAGGED, 10_000, "queued", tag="gpu"))
        await insert_jobs(store, _rows(BACKLOG, 20_000, "queued"))
        yield store


async def _sqlite_plans(store) -> dict[str, tuple[str, bool]]:
    """Each claim's plan, and whether it sorts."""
    with sqlite3.connect(sqlite_path(store.db.url)) as conn:
        steps = conn.execute(
            f"EXPLAIN QUERY PLAN {queue_sqlite.claim_sql(0)}", ("r", 1, 1, 8)
        ).fetchall()
    plan = "\n".join(str(step[-1]) for step in steps)
    return {"claim": (plan, "TEMP B-TREE" in plan)}


async def _postgresql_plans(store) -> dict[str, tuple[str, bool]]:
    running = f"{1:024x}"
    ends = ([running], ["succeeded"], [2], ["{}"], [None], [False], ["{}"])
    statements = {
        "claim": (queue_pg.CLAIM[False], ("r", 1, 1, 8)),
        "finish and claim": (queue_pg.FINISH_AND_CLAIM[False], (*ends, "r", 1, 8)),
    }
    plans = {}
    conn = await asyncpg.connect(store.db.url.replace("+asyncpg", ""))
    try:
        for name, (sql, args) in statements.items():
            plan = "\n".join(row[0] for row in await conn.fetch(f"EXPLAIN {sql}", *args))
            sorts = any("Sort Key" in line and "priority" in line for line in plan.splitlines())
            plans[name] = (plan, sorts)
    finally:
        await conn.close()
    return plans


async def test_a_runner_without_tags_claims_from_the_index_in_order(backlog, backend):
    plans = await (_sqlite_plans if backend == "sqlite" else _postgresql_plans)(backlog)
    for name, (plan, sorts) in plans.items():
        assert "ix_jobs_queue_untagged" in plan, (name, plan)
        assert not sorts, (name, plan)


async def test_the_claim_still_takes_the_oldest_untagged_jobs(backlog):
    claimed = await queue.claim_many(backlog, "r", (), 8)
    assert [job.id for job in claimed] == [f"{20_000 + n:024x}" for n in range(8)]
    tagged = await queue.claim_many(backlog, "t", ("gpu",), 2)
    assert [job.id for job in tagged] == [f"{10_000 + n:024x}" for n in range(2)]
