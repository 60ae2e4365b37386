"""Due trigger firings: read, then consumed exactly once together with what they did.

A firing is acted on in two steps (service/firing.py). First the due rows are read without
a lock and each is turned into what it will do (a job row to insert, a delivery to record):
rendering reads operations and properties, and that is kept out of the write transaction.
Then :func:`consume` takes, in one transaction, the rows that are still as they were read,
locked (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time), inserts
the jobs and deliveries, and deletes each one-shot firing or moves a repeating one to its
next time. Another process that read the same rows finds them locked, gone, or moved on, and
does nothing with them: each firing acts once in total, whatever the number of processes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, tuple_, update

from ..domain.kinds import EntityKind
from . import firings_sqlite
from .channels import QUEUED_CHANNEL, notify
from .core import Store
from .immediate import NOT_WRITTEN, try_immediate_write
from .schema import jobs, trigger_deliveries, trigger_firings
from .triggers import entity_table


@dataclass(frozen=True, slots=True)
class Firing:
    id: str
    owner_id: str
    owner_type: int
    cause: str
    source: str
    source_id: str
    trigger_index: int
    trigger: str
    change_id: str | None
    state_id: int | None
    prev_state_id: int | None
    entered_at: int
    due_at: int
    period_ms: int | None
    fired: int
    context: str | None


@dataclass(frozen=True, slots=True)
class Acted:
    """What one firing does: a job to queue (or none), and the record of it."""

    firing: Firing
    job: dict[str, Any] | None
    delivery: dict[str, Any]


_COLUMNS = [trigger_firings.c[name] for name in Firing.__slots__]


_DUE_SQL = (
    f"SELECT {', '.join(Firing.__slots__)} FROM trigger_firings WHERE due_at <= ? "
    "ORDER BY due_at, id LIMIT ?"
)


def _firings(rows) -> list[Firing]:
    return [Firing(*row) for row in rows]


async def due(store: Store, now: int, limit: int) -> list[Firing]:
    """The earliest firings due by ``now``, read through the index on ``due_at``; on SQLite
    at once, on the loop (at most ``limit`` rows of an index range)."""
    if store.is_sqlite:
        return store.sqlite_read(_DUE_SQL, (now, limit), _firings)
    query = (
        select(*_COLUMNS)
        .where(trigger_firings.c.due_at <= now)
        .order_by(trigger_firings.c.due_at, trigger_firings.c.id)
        .limit(limit)
    )
    async with store.read() as conn:
        return [Firing(*row) for row in await conn.execute(query)]


def next_time(firing: Firing, now: int) -> int | None:
    """When a repeating firing is due again (None: it fires once). A repeat missed while
    nothing ran is not made up for: the next one is a period after now."""
    if not firing.period_ms:
        return None
    following = firing.due_at + firing.period_ms
    return following if following > now else now + firing.period_ms


async def _still_as_read(conn, store: Store, acted: Sequence[Acted]) -> set[str]:
    """The IDs of the firings that are unchanged since they were read (not moved on by
    another dispatcher, not stopped repeating by a change of state), now locked by us."""
    keys = [(a.firing.id, a.firing.due_at, a.firing.fired, a.firing.period_ms or 0) for a in acted]
    columns = trigger_firings.c
    query = select(columns.id).where(
        tuple_(columns.id, columns.due_at, columns.fired, func.coalesce(columns.period_ms, 0)).in_(
            keys
        )
    )
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return {row.id for row in await conn.execute(query)}


async def consume(store: Store, acted: Sequence[Acted], now: int) -> list[Acted]:
    """Do what ``acted`` says for each firing still due as read, in one transaction; the
    ones done (the others were taken, moved or cancelled meanwhile)."""
    if not acted:
        return []
    if store.immediate is not None:
        work = lambda conn: firings_sqlite.consume(conn, acted, now, next_time)  # noqa: E731
        done = await try_immediate_write(store.immediate, work, sqlite3.IntegrityError, KeyError)
        if done is not NOT_WRITTEN:
            if any(a.job is not None for a in done):
                store.jobs_queued.set()
            return done
    async with store.write() as conn:
        mine = await _still_as_read(conn, store, acted)
        done = [a for a in acted if a.firing.id in mine]
        job_rows = [a.job for a in done if a.job is not None]
        if job_rows:
            await conn.execute(insert(jobs), job_rows)
            await notify(conn, QUEUED_CHANNEL)
        if done:
            await conn.execute(insert(trigger_deliveries), [a.delivery for a in done])
        await _advance(conn, [a.firing for a in done], now)
    if job_rows:
        store.jobs_queued.set()
    return done


async def _advance(conn, firings: Sequence[Firing], now: int) -> None:
    once = [f.id for f in firings if not f.period_ms]
    if once:
        await conn.execute(delete(trigger_firings).where(trigger_firings.c.id.in_(once)))
    for firing in firings:
        following = next_time(firing, now)
        if following is not None:
            await conn.execute(
                update(trigger_firings)
                .where(trigger_firings.c.id == firing.id)
                .values(due_at=following, fired=firing.fired + 1)
            )


async def entity_properties(store: Store, owner_type: int, entity_id: str) -> str | None:
    """The entity's stored properties (JSON text), or None when it is gone."""
    table = entity_table(EntityKind(owner_type))
    async with store.read() as conn:
        return (
            await conn.execute(select(table.c.properties).where(table.c.id == entity_id))
        ).scalar()
