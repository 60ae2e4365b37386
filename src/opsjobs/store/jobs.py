"""Job rows: reading history lists as a stream, appending results, inserting in bulk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, insert, literal, select, update

from ..domain.jobs import HistoryRow
from .core import Store
from .schema import jobs

HISTORY_COLUMNS = [jobs.c[name] for name in HistoryRow._fields]


@dataclass(frozen=True)
class JobFilter:
    """The ext paging and filter parameters of the list routes."""

    time_from: int | None = None
    time_to: int | None = None
    status: str | None = None
    operation_id: str | None = None
    user_id: str | None = None
    order: str = "asc"
    limit: int | None = None
    skip: int = 0


# Above this many owners a list is read by time rather than owner by owner (see below).
MANY_OWNERS = 64


def _owner_condition(owner_ids: list[str]):
    """Few owners: their jobs through ix_jobs_owner_order, each owner's already in order,
    merged; the work grows with their jobs. Many owners (the console's list of everything a
    user sees): walking ix_jobs_time from the end and keeping the owners asked for stops at
    the page's last job, and is bounded by the index even when they have no jobs at all,
    where reading every job of 10,000 objects to sort them took seconds at 1M jobs
    (docs/decisions.md, "The web console"). ``owner_id || ''`` keeps the planner (SQLite's
    and PostgreSQL's alike) off the owner index, which it would otherwise pick for IN."""
    if len(owner_ids) <= MANY_OWNERS:
        return jobs.c.owner_id.in_(owner_ids)
    return jobs.c.owner_id.concat("").in_(owner_ids)


def _history_query(owner_ids: list[str], owner_type: int, flt: JobFilter):
    # The owner type too: an object's ID named as a link (or the reverse) brings nothing.
    conditions = [_owner_condition(owner_ids), jobs.c.owner_type == owner_type]
    if flt.time_from is not None:
        conditions.append(jobs.c.timestamp >= flt.time_from)
    if flt.time_to is not None:
        conditions.append(jobs.c.timestamp <= flt.time_to)
    if flt.status is not None:
        conditions.append(jobs.c.status == flt.status)
    if flt.operation_id is not None:
        conditions.append(jobs.c.operation_id == flt.operation_id)
    if flt.user_id is not None:
        conditions.append(jobs.c.user_id == flt.user_id)
    if flt.order == "desc":
        ordering = (jobs.c.timestamp.desc(), jobs.c.id.desc())
    else:
        ordering = (jobs.c.timestamp.asc(), jobs.c.id.asc())
    query = select(*HISTORY_COLUMNS).where(and_(*conditions)).order_by(*ordering)
    if flt.limit is not None:
        query = query.limit(flt.limit)
    if flt.skip:
        query = query.offset(flt.skip)
    return query


async def stream_history(
    store: Store, owner_ids: list[str], owner_type: int, flt: JobFilter, batch: int = 500
) -> AsyncIterator[list[HistoryRow]]:
    """History rows of the given owners (of one type), in batches, from a server-side cursor."""
    if not owner_ids:
        return
    async with store.read() as conn:
        result = await conn.stream(_history_query(owner_ids, owner_type, flt))
        async for rows in result.partitions(batch):
            yield [HistoryRow._make(r) for r in rows]


async def has_jobs(store: Store, owner_id: str, owner_type: int) -> bool:
    """Whether any job of this owner is stored (a deleted owner's history outlives it)."""
    async with store.read() as conn:
        result = await conn.execute(
            select(jobs.c.id)
            .where(jobs.c.owner_id == owner_id, jobs.c.owner_type == owner_type)
            .limit(1)
        )
        return result.first() is not None


async def append_result(store: Store, job_id: str, entry_json: str) -> bool:
    """Append one entry to a job's results in a single statement.

    The append happens inside the UPDATE, under the row's write lock, so concurrent appends
    are serialised by the database and none is lost.
    """
    if store.is_sqlite:
        appended = func.json_insert(jobs.c.results, literal("$[#]"), func.json(entry_json))
    else:
        from sqlalchemy.dialects.postgresql import JSONB

        appended = func.cast(
            func.cast(jobs.c.results, JSONB).op("||")(
                func.jsonb_build_array(func.cast(literal(entry_json), JSONB))
            ),
            jobs.c.results.type,
        )
    async with store.write() as conn:
        result = await conn.execute(
            update(jobs).where(jobs.c.id == job_id).values(results=appended)
        )
        return result.rowcount == 1


async def insert_jobs(store: Store, rows: Iterable[dict[str, Any]]) -> int:
    rows = list(rows)
    if not rows:
        return 0
    async with store.write() as conn:
        await conn.execute(insert(jobs), rows)
    return len(rows)


async def existing_job_ids(store: Store, ids: list[str]) -> set[str]:
    async with store.read() as conn:
        result = await conn.execute(select(jobs.c.id).where(jobs.c.id.in_(ids)))
        return {r.id for r in result}


async def bulk_insert_jobs(store: Store, rows: list[dict[str, Any]]) -> None:
    """Insert many complete job rows at the driver's full speed (imports, benchmarks).

    SQLite takes a plain executemany; PostgreSQL takes COPY. Either way the batch is one
    transaction: it is stored whole or not at all.
    """
    columns = list(rows[0])
    values = [tuple(row[c] for c in columns) for row in rows]
    async with store.write() as conn:
        if store.is_sqlite:
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            await conn.exec_driver_sql(f"INSERT INTO jobs ({names}) VALUES ({marks})", values)
        else:
            raw = await conn.get_raw_connection()
            await raw.driver_connection.copy_records_to_table(
                "jobs", records=values, columns=columns
            )
