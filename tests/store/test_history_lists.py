"""store/jobs.py: a history list of few owners (read owner by owner) and of many (read by
time) answers the same jobs in the same order, with the filters and paging of docs/api.md §6,
on SQLite and PostgreSQL."""

from __future__ import annotations

import random

from helpers import add_job
from helpers.execution import opened_store
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.jobs import MANY_OWNERS, JobFilter, stream_history

STATUSES = ("succeeded", "failed", "timeout")


async def _listed(store, owners: list[str], flt: JobFilter, kind=EntityKind.OBJECT) -> list[str]:
    return [r.id async for rows in stream_history(store, owners, kind, flt) for r in rows]


def _expected(made: list[tuple], owners: set[str], flt: JobFilter) -> list[str]:
    kept = [
        job
        for job in made
        if job[1] in owners
        and (flt.status is None or job[3] == flt.status)
        and (flt.time_from is None or job[2] >= flt.time_from)
        and (flt.time_to is None or job[2] <= flt.time_to)
    ]
    kept.sort(key=lambda job: (job[2], job[0]), reverse=flt.order == "desc")
    end = None if flt.limit is None else flt.skip + flt.limit
    return [job[0] for job in kept[flt.skip : end]]


async def test_few_and_many_owners_list_the_same_order(backend, database_url) -> None:
    rng = random.Random(7)
    owners = [new_id() for _ in range(MANY_OWNERS * 2)]
    made = []  # (id, owner, timestamp, status); equal timestamps are ordered by ID
    async with opened_store(database_url) as store:
        for _ in range(400):
            owner, status = rng.choice(owners[:100]), rng.choice(STATUSES)
            timestamp = 1_700_000_000_000 + rng.randrange(60) * 1000
            job_id = await add_job(store, owner, timestamp=timestamp, status=status)
            made.append((job_id, owner, timestamp, status))
        # A link's job under an object's ID is not the object's.
        await add_job(store, owners[0], EntityKind.LINK, timestamp=1_700_000_030_000)
        few, many = owners[:10], owners  # many: more than MANY_OWNERS, some without jobs
        for flt in (
            JobFilter(order="desc", limit=25),
            JobFilter(order="desc", limit=25, skip=300),
            JobFilter(order="asc", limit=7, skip=3),
            JobFilter(order="desc", status="failed", limit=10, skip=5),
            JobFilter(time_from=1_700_000_010_000, time_to=1_700_000_020_000, order="desc"),
            JobFilter(),
        ):
            for chosen in (few, many):
                listed = await _listed(store, chosen, flt)
                assert listed == _expected(made, set(chosen), flt), (len(chosen), flt)
        assert await _listed(store, owners[100:], JobFilter(order="desc", limit=25)) == []
