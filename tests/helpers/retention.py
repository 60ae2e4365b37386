"""Job histories for the retention tests, and the policy written the plain way: what must
survive a purge, worked out in Python from the rows alone."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass

from opsjobs.domain.ids import new_id
from opsjobs.domain.output import Chunk
from opsjobs.store.core import Store
from opsjobs.store.jobs import bulk_insert_jobs
from opsjobs.store.output import insert_chunks

DAY_MS = 86_400_000
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "timeout", "cancelled", "lost")


@dataclass(frozen=True)
class Job:
    id: str
    owner_id: str
    operation_id: str | None
    timestamp: int
    status: str


def make_job(owner: str, operation: str | None, at_ms: int, status: str = "succeeded") -> Job:
    return Job(new_id(at_ms / 1000), owner, operation, at_ms, status)


def row(job: Job) -> dict:
    return {
        "id": job.id,
        "owner_id": job.owner_id,
        "owner_type": 1,
        "operation_id": job.operation_id,
        "operation_name": "op",
        "user_id": None,
        "timestamp": job.timestamp,
        "description": '{"stdout": "out of ' + job.id + '", "exitCode": 0, "stderr": "e"}',
        "results": "[]",
        "status": job.status,
        "started": job.timestamp + 1,
        "finished": None if job.status in ACTIVE else job.timestamp + 2,
        "truncated": False,
    }


async def store_jobs(store: Store, history: list[Job], *, output: bool = True) -> None:
    """Insert the jobs, each with two chunks of stored output when ``output``."""
    await bulk_insert_jobs(store, [row(job) for job in history])
    if output:
        chunks = [
            (job.id, Chunk(stream, 0, 0, f"chunk {stream} of {job.id}".encode()))
            for job in history
            for stream in (1, 2)
        ]
        async with store.write() as conn:
            await insert_chunks(conn, chunks)


def random_history(rng: random.Random, now: int, count: int) -> list[Job]:
    """Jobs of a few owners and operations (one of them NULL), ages from half a day to 60
    days, never near a whole day (a cutoff taken a moment later decides the same), with ties
    in time, every status; half of them older than 30 days."""
    owners = [new_id() for _ in range(4)]
    operations = [new_id(), new_id(), None]
    times = [
        now - rng.randrange(0, 60) * DAY_MS - DAY_MS // 2 - rng.choice((0, 0, 5_000))
        for _ in range(count)
    ]
    statuses = list(FINISHED) * 4 + list(ACTIVE)
    return [
        make_job(rng.choice(owners), rng.choice(operations), at, rng.choice(statuses))
        for at in times
    ]


def survivors(history: list[Job], cutoff_ms: int, keep: int) -> set[str]:
    """The IDs the policy keeps: young jobs, queued or running ones, and the ``keep`` most
    recent finished jobs (by time, then ID) of each owner and operation."""
    groups: dict[tuple, list[Job]] = defaultdict(list)
    for job in history:
        if job.status not in ACTIVE:
            groups[(job.owner_id, job.operation_id)].append(job)
    newest = set()
    for jobs in groups.values():
        jobs.sort(key=lambda j: (j.timestamp, j.id), reverse=True)
        newest.update(j.id for j in jobs[:keep])
    return {
        j.id for j in history if j.timestamp >= cutoff_ms or j.status in ACTIVE or j.id in newest
    }
