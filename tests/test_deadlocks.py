"""No deadlocks by construction, on PostgreSQL: claims, runner heartbeats, finishes (in
batches, some of them after their job was marked lost), cancels and reapers, all at once on
the same rows for OPSJOBS_DEADLOCK_SECONDS (20 by default; 60 for the full run). PostgreSQL's
own count of deadlocks in the database must not move, and nothing may need a retry."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter

import pytest
from sqlalchemy import func, select, text

from helpers.execution import opened_store
from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.output import STDOUT, Chunk
from opsjobs.store import retry
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.queue import (
    Ending,
    cancel,
    claim_many,
    enqueue,
    finish_many,
    job_states,
    lost_candidates,
    mark_lost,
)
from opsjobs.store.runners import Registration, record_heartbeat, register
from opsjobs.store.schema import jobs

SECONDS = float(os.environ.get("OPSJOBS_DEADLOCK_SECONDS") or 20)
SPEC = '{"type": "exec", "argv": ["true"], "timeout": 5}'


@pytest.fixture
def pg_url(backend, database_url) -> str:
    if backend != "postgresql":
        pytest.skip("deadlocks are PostgreSQL's: SQLite has one writer at a time")
    return database_url


async def deadlocks(store) -> int:
    async with store.read() as conn:
        await conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        query = "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        return (await conn.execute(text(query))).scalar_one()


async def test_the_queue_never_deadlocks(pg_url):
    counts: Counter[str] = Counter()
    recent: list[str] = []
    async with opened_store(pg_url) as store:
        before = await deadlocks(store)
        retried_before = retry.Counts.retried + retry.Counts.gave_up
        # Two runners that answer, two whose jobs every reaper judges lost at once: their
        # finishes then meet the reapers on the same rows, and land after the loss.
        live = [Registration(f"live/{n}", f"i{n}", "h", n) for n in (1, 2)]
        for me in live:
            await register(store, me)
        names = [me.name for me in live] + ["silent/1", "silent/2"]
        deadline = time.monotonic() + SECONDS

        async def produce() -> None:
            while time.monotonic() < deadline:
                rows = [{"id": new_id(), "owner_id": "1", "owner_type": 1,
                         "timestamp": now_ms(), "spec": SPEC} for _ in range(40)]  # fmt: skip
                await insert_jobs(store, rows[1:])  # many at once, and one as execute does
                await enqueue(store, rows[0])
                recent.extend(row["id"] for row in rows)
                counts["queued"] += len(rows)
                del recent[:-400]
                await asyncio.sleep(0.02)

        async def run(name: str) -> None:
            while time.monotonic() < deadline:
                claimed = await claim_many(store, name, (), random.randint(1, 12))
                counts["claimed"] += len(claimed)
                if not claimed:
                    await asyncio.sleep(0.002)
                    continue
                await job_states(store, name, [job.id for job in claimed])
                await asyncio.sleep(random.random() * 0.01)
                endings = [
                    Ending(
                        job.id,
                        random.choice([JobStatus.SUCCEEDED, JobStatus.FAILED]),
                        '{"exitCode": 0}',
                        None,
                        False,
                        [Chunk(STDOUT, 0, 0, b"out")],
                    )  # fmt: skip
                    for job in claimed
                ]
                random.shuffle(endings)  # the order they came in: any
                finished = await finish_many(store, name, endings)
                counts["finished"] += finished  # (not += await: other tasks add meanwhile)

        async def heartbeat(me: Registration) -> None:
            while time.monotonic() < deadline:
                await record_heartbeat(store, me)
                counts["beats"] += 1
                await asyncio.sleep(0.01)

        async def reap(n: int) -> None:
            while time.monotonic() < deadline:
                judged = await lost_candidates(store, 0.005)
                lost = await mark_lost(store, judged, f"reaper/{n}")
                counts["lost"] += len(lost)
                await asyncio.sleep(0.002)

        async def cancel_some() -> None:
            while time.monotonic() < deadline:
                if recent:
                    outcome = await cancel(store, random.choice(recent))
                    counts[f"cancel {outcome}"] += 1
                await asyncio.sleep(0.003)

        await asyncio.gather(
            produce(),
            *(run(name) for name in names),
            *(run(name) for name in names),  # two slots each, as a runner's tasks would
            *(heartbeat(me) for me in live),
            *(reap(n) for n in range(3)),
            cancel_some(),
            cancel_some(),
        )
        await asyncio.sleep(1.5)  # statistics reach pg_stat_database within a second
        after = await deadlocks(store)
        async with store.read() as conn:
            query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
            statuses = dict((await conn.execute(query)).all())
            late = (
                await conn.execute(
                    select(func.count()).where(jobs.c.history.is_not(None), jobs.c.status != "lost")
                )
            ).scalar_one()
    print(f"\n{SECONDS:g} s: {dict(counts)}; statuses {statuses}; finished after lost {late}")
    assert after - before == 0, "PostgreSQL saw deadlocks"
    assert retry.Counts.retried + retry.Counts.gave_up == retried_before, "writes were retried"
    # The load was real: every kind of write happened, many times over.
    assert counts["claimed"] > 50 and counts["finished"] > 50 and counts["beats"] > 50
    assert counts["lost"] > 0 and late > 0 and counts["cancel running"] > 0


async def test_a_deadlock_the_database_reports_is_retried_with_one_log_line(pg_url, log_since):
    # Two transactions that take two rows in opposite orders: PostgreSQL aborts one; it is
    # run again at once and succeeds, and the log has one line about it, no traceback.
    async with opened_store(pg_url) as store:
        first, second = new_id(), new_id()
        rows = [{"id": job_id, "owner_id": "1", "owner_type": 1, "timestamp": 0, "spec": SPEC}
                for job_id in (first, second)]  # fmt: skip
        await insert_jobs(store, rows)
        both_hold_one = asyncio.Event()
        holding = Counter()
        retried_before = retry.Counts.retried

        def crosswise(mine: str, theirs: str):
            async def work(conn) -> None:
                touch = "UPDATE jobs SET error = 'x' WHERE id = :id"
                await conn.execute(text(touch), {"id": mine})
                holding["rows"] += 1
                if holding["rows"] == 2:
                    both_hold_one.set()
                await both_hold_one.wait()
                await conn.execute(text(touch), {"id": theirs})

            return work

        await asyncio.gather(
            retry.write(store, crosswise(first, second), "test one way"),
            retry.write(store, crosswise(second, first), "test the other way"),
        )
    said = "\n".join(log_since.lines())
    assert retry.Counts.retried == retried_before + 1
    lines = [line for line in said.splitlines() if "aborted by the database" in line]
    assert len(lines) == 1 and "40P01" in lines[0], said
    assert "Traceback" not in said
