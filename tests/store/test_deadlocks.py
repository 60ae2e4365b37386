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
from opsjobs.domain.outcome import Outcome
from opsjobs.domain.output import STDOUT, Chunk
from opsjobs.store import retry
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.queue import (
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


def _endings(claimed) -> dict[str, Outcome]:
    endings = [
        (
            job.id,
            Outcome(
                random.choice([JobStatus.SUCCEEDED, JobStatus.FAILED]),
                {"exitCode": 0},
                chunks=[Chunk(STDOUT, 0, 0, b"out")],
            ),
        )
        for job in claimed
    ]
    random.shuffle(endings)  # the order they came in: any
    return dict(endings)


class Load:
    """The writers of the queue, each in a loop until the deadline, counting what they did."""

    def __init__(self, store) -> None:
        self.store = store
        self.counts: Counter[str] = Counter()
        self.recent: list[str] = []
        self.deadline = time.monotonic() + SECONDS

    def going(self) -> bool:
        return time.monotonic() < self.deadline

    async def produce(self) -> None:
        while self.going():
            rows = [{"id": new_id(), "owner_id": "1", "owner_type": 1,
                     "timestamp": now_ms(), "spec": SPEC} for _ in range(40)]  # fmt: skip
            await insert_jobs(self.store, rows[1:])  # many at once, and one as execute does
            await enqueue(self.store, rows[0])
            self.recent.extend(row["id"] for row in rows)
            self.counts["queued"] += len(rows)
            del self.recent[:-400]
            await asyncio.sleep(0.02)

    async def run(self, name: str) -> None:
        while self.going():
            claimed = await claim_many(self.store, name, (), random.randint(1, 12))
            self.counts["claimed"] += len(claimed)
            if not claimed:
                await asyncio.sleep(0.002)
                continue
            await job_states(self.store, name, [job.id for job in claimed])
            await asyncio.sleep(random.random() * 0.01)
            finished = await finish_many(self.store, name, _endings(claimed))
            self.counts["finished"] += finished  # (not += await: other tasks add meanwhile)

    async def heartbeat(self, me: Registration) -> None:
        while self.going():
            await record_heartbeat(self.store, me)
            self.counts["beats"] += 1
            await asyncio.sleep(0.01)

    async def reap(self, n: int) -> None:
        while self.going():
            judged = await lost_candidates(self.store, 0.005)
            lost = await mark_lost(self.store, judged, f"reaper/{n}")
            self.counts["lost"] += len(lost)
            await asyncio.sleep(0.002)

    async def cancel_some(self) -> None:
        while self.going():
            if self.recent:
                outcome = await cancel(self.store, random.choice(self.recent))
                self.counts[f"cancel {outcome}"] += 1
            await asyncio.sleep(0.003)


async def _statuses(store) -> tuple[dict[str, int], int]:
    """How many jobs are in each status, and how many were finished after they were lost."""
    async with store.read() as conn:
        query = select(jobs.c.status, func.count()).group_by(jobs.c.status)
        statuses = dict((await conn.execute(query)).all())
        late = (
            await conn.execute(
                select(func.count()).where(jobs.c.history.is_not(None), jobs.c.status != "lost")
            )
        ).scalar_one()
    return statuses, late


async def test_the_queue_never_deadlocks(pg_url):
    async with opened_store(pg_url) as store:
        before = await deadlocks(store)
        retried_before = retry.Counts.retried + retry.Counts.gave_up
        # Two runners that answer, two whose jobs every reaper judges lost at once: their
        # finishes then meet the reapers on the same rows, and land after the loss.
        live = [Registration(f"live/{n}", f"i{n}", "h", n) for n in (1, 2)]
        for me in live:
            await register(store, me)
        names = [me.name for me in live] + ["silent/1", "silent/2"]
        load = Load(store)
        await asyncio.gather(
            load.produce(),
            *(load.run(name) for name in names),
            *(load.run(name) for name in names),  # two slots each, as a runner's tasks would
            *(load.heartbeat(me) for me in live),
            *(load.reap(n) for n in range(3)),
            load.cancel_some(),
            load.cancel_some(),
        )
        await asyncio.sleep(1.5)  # statistics reach pg_stat_database within a second
        after = await deadlocks(store)
        statuses, late = await _statuses(store)
    counts = load.counts
    print(f"\n{SECONDS:g} s: {dict(counts)}; statuses {statuses}; finished after lost {late}")
    assert after - before == 0, "PostgreSQL saw deadlocks"
    assert retry.Counts.retried + retry.Counts.gave_up == retried_before, "writes were retried"
    # The load was real: every kind of write happened, many times over.
    assert counts["claimed"] > 50 and counts["finished"] > 50 and counts["beats"] > 50
    assert counts["lost"] > 0 and late > 0 and counts["cancel running"] > 0
