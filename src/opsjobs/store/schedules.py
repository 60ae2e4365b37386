"""Schedules as stored, and their due runs consumed exactly once.

A due schedule is acted on in two steps, as a trigger firing is (store/firings.py): the due
rows are read without a lock and each is turned into what it will do (a job row, or a stop
with its reason) outside any transaction; then :func:`consume` takes, in one transaction,
the rows still as they were read (same ``revision``), locked (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite has one writer at a time), inserts the jobs and moves each schedule on to
its next time. A dispatcher that read the same row finds it locked or changed, and leaves it:
each due time acts once in total, whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, tuple_, update

from ..domain.errors import BadRequest, NotFound
from .channels import FIRINGS_CHANNEL, QUEUED_CHANNEL, notify
from .core import Store
from .schema import jobs, schedules


@dataclass(frozen=True, slots=True)
class Run:
    """What one due schedule does: a job to queue, or none; and the row's new values."""

    id: str
    revision: int
    job: dict[str, Any] | None
    changes: dict[str, Any]


async def create(store: Store, row: dict[str, Any], per_owner_max: int) -> None:
    async with store.write() as conn:
        owned = await conn.execute(
            select(func.count())
            .select_from(schedules)
            .where(schedules.c.owner_id == row["owner_id"])
        )
        if owned.scalar_one() >= per_owner_max:
            raise BadRequest(f"owner: a user may own at most {per_owner_max} schedules")
        await conn.execute(insert(schedules).values(row))
        # Other dispatchers may sleep past the new time: wake them.
        await notify(conn, FIRINGS_CHANNEL)
    store.firings_due.set()


async def get(store: Store, schedule_id: str) -> Any | None:
    async with store.read() as conn:
        return (await conn.execute(select(schedules).where(schedules.c.id == schedule_id))).first()


async def listed(store: Store, owner_id: str | None, limit: int) -> list[Any]:
    """Schedules, oldest first: one owner's (``owner_id``), or everyone's (None)."""
    query = select(schedules).order_by(schedules.c.created, schedules.c.id).limit(limit)
    if owner_id is not None:
        query = query.where(schedules.c.owner_id == owner_id)
    async with store.read() as conn:
        return list(await conn.execute(query))


async def change(store: Store, schedule_id: str, revision: int, values: dict[str, Any]) -> None:
    """Write ``values`` over the schedule if it is still at ``revision`` (404 if it is gone;
    400 if it changed meanwhile: read it again)."""
    async with store.write() as conn:
        done = await conn.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id, schedules.c.revision == revision)
            .values(**values, revision=revision + 1)
        )
        if done.rowcount == 0:
            if await _exists(conn, schedule_id):
                raise BadRequest("schedule: changed meanwhile by another request; try again")
            raise NotFound.entity("Schedule", schedule_id)
        # Other dispatchers may sleep past the new time: wake them.
        await notify(conn, FIRINGS_CHANNEL)
    store.firings_due.set()


async def _exists(conn, schedule_id: str) -> bool:
    found = await conn.execute(select(schedules.c.id).where(schedules.c.id == schedule_id))
    return found.first() is not None


async def remove(store: Store, schedule_id: str) -> None:
    async with store.write() as conn:
        done = await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))
        if done.rowcount == 0:
            raise NotFound.entity("Schedule", schedule_id)


# -- due runs ------------------------------------------------------------------------------


async def due(store: Store, now: int, limit: int) -> list[Any]:
    """The earliest schedules due by ``now``, read through the index on ``next_run_at``.
    Most looks find none: one read of the index, at once on SQLite, says so."""
    earliest = await next_due(store)
    if earliest is None or earliest > now:
        return []
    query = (
        select(schedules)
        .where(schedules.c.next_run_at <= now)
        .order_by(schedules.c.next_run_at, schedules.c.id)
        .limit(limit)
    )
    async with store.read() as conn:
        return list(await conn.execute(query))


async def next_due(store: Store) -> int | None:
    """When the earliest schedule is due (ms), from the index on ``next_run_at``: one read
    of the index's first entry, at once on SQLite (the dispatcher asks after every look)."""
    return (await store.fetch_row("SELECT MIN(next_run_at) FROM schedules", ()))[0]


async def _still_as_read(conn, store: Store, runs: Sequence[Run]) -> set[str]:
    keys = [(run.id, run.revision) for run in runs]
    query = select(schedules.c.id).where(tuple_(schedules.c.id, schedules.c.revision).in_(keys))
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return {row.id for row in await conn.execute(query)}


async def consume(store: Store, runs: Sequence[Run]) -> list[Run]:
    """Do what ``runs`` say for each schedule still as read, in one transaction; the ones
    done (the others were taken or changed meanwhile)."""
    if not runs:
        return []
    async with store.write() as conn:
        mine = await _still_as_read(conn, store, runs)
        done = [run for run in runs if run.id in mine]
        job_rows = [run.job for run in done if run.job is not None]
        if job_rows:
            await conn.execute(insert(jobs), job_rows)
            await notify(conn, QUEUED_CHANNEL)
        for run in done:
            await conn.execute(
                update(schedules)
                .where(and_(schedules.c.id == run.id, schedules.c.revision == run.revision))
                .values(**run.changes, revision=run.revision + 1)
            )
    if job_rows:
        store.jobs_queued.set()
    return done
