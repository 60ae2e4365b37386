"""Claim order (docs/decisions.md, "Batches and fairness"): a person's job (no
``process_meta``) is taken before every job a trigger, a schedule or a batch queued, however
many of those wait and however much older they are; each kind oldest first. Both claim
paths: SQLite's immediate one and the pooled one (PostgreSQL's, and SQLite's when the lock
is taken)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from helpers.execution import opened_store, true_job_row
from opsjobs.domain.clock import now_ms
from opsjobs.store import queue
from opsjobs.store.schema import jobs


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


def _row(timestamp: int, meta: dict | None) -> dict:
    return true_job_row(timestamp, meta=meta)


@pytest.mark.parametrize("path", ["immediate", "pool"])
async def test_a_person_goes_first(store, path):
    if path == "pool":
        store.immediate = None  # (closed with the store's other connections all the same)
    background = [_row(1000 + i, {"batch": {"id": "b", "name": "n"}}) for i in range(30)]
    person = _row(5000, None)
    late_person = _row(6000, None)
    for row in [*background, person, late_person]:
        await queue.enqueue(store, row)
    assert [r["priority"] for r in (background[0], person)] == [1, 0]
    first = await queue.claim_many(store, "r1", (), 1)
    assert [job.id for job in first] == [person["id"]]
    following = await queue.claim_many(store, "r1", (), 3)
    # (What one claim takes, it answers oldest first.)
    assert {job.id for job in following} == {
        late_person["id"],
        background[0]["id"],
        background[1]["id"],
    }


async def test_an_end_claims_in_the_same_order_for_the_slots_it_frees(store, backend):
    """finish_and_claim (PostgreSQL): the statement that stores ends claims at most that many
    jobs, a person's first, then oldest first, only those this runner's tags allow; SQLite
    claims nothing there (its claim loop does)."""
    from opsjobs.domain.jobs import JobStatus
    from opsjobs.domain.outcome import Outcome

    running = [_row(100 + i, None) for i in range(2)]
    for row in running:
        await queue.enqueue(store, row)
    assert len(await queue.claim_many(store, "r1", (), 2)) == 2
    background = [_row(1000 + i, {"batch": {"id": "b", "name": "n"}}) for i in range(3)]
    person = _row(5000, None)
    tagged = {**_row(10, None), "runner_tag": "elsewhere"}
    for row in [*background, person, tagged]:
        await queue.enqueue(store, row)
    ends = {row["id"]: Outcome(JobStatus.SUCCEEDED, {}, None) for row in running}
    finished, claimed = await queue.finish_and_claim(store, "r1", ends, ("mine",), 2)
    assert finished == 2
    if backend == "sqlite":
        assert claimed == []
        return
    # The person's and the oldest other, answered oldest first.
    assert [job.id for job in claimed] == [background[0]["id"], person["id"]]
    statuses = {
        job_id: (await store.fetch_row("SELECT status FROM jobs WHERE id = ?", (job_id,)))[0]
        for job_id in [row["id"] for row in running] + [tagged["id"], background[1]["id"]]
    }
    assert statuses == {
        running[0]["id"]: "succeeded",
        running[1]["id"]: "succeeded",
        tagged["id"]: "queued",
        background[1]["id"]: "queued",
    }


async def test_a_job_queued_while_a_claim_waits_starts_no_earlier_than_it_was_queued(
    store, monkeypatch
):
    """The pooled claim's start time is read when its statement runs. Read before the wait
    for a connection (or SQLite's lock), a job queued during the wait was claimed with a
    ``started`` earlier than its ``timestamp``."""
    store.immediate = None  # SQLite's pooled path too (PostgreSQL's is always pooled)
    queued: list[dict] = []

    async def queue_one_meanwhile() -> None:
        if not queued:
            await asyncio.sleep(0.01)  # a claim that waits, as under load
            queued.append(_row(now_ms(), None))
            await queue.enqueue(store, queued[0])

    if store.is_sqlite:
        write = queue.retry.write

        async def waiting_write(store_, work, what):
            await queue_one_meanwhile()
            return await write(store_, work, what)

        monkeypatch.setattr(queue.retry, "write", waiting_write)
        await queue.enqueue(store, _row(now_ms(), None))  # the read before the claim finds it
    else:
        on_asyncpg = store.db.on_asyncpg

        async def waiting_connection(work):
            await queue_one_meanwhile()
            return await on_asyncpg(work)

        monkeypatch.setattr(store.db, "on_asyncpg", waiting_connection)
    claimed = await queue.claim_many(store, "r1", (), 5)
    assert queued[0]["id"] in {job.id for job in claimed}
    async with store.read() as conn:
        row = (await conn.execute(select(jobs).where(jobs.c.id == queued[0]["id"]))).one()
    assert row.started >= row.timestamp
