"""Purging old jobs and their stored output, a small batch at a time, by primary key.

Job IDs begin with the second they were made (domain/ids.py), so the primary key is in time
order: the jobs made before a cutoff are one range of it, read page by page from the lowest
ID, with no index on ``timestamp`` (docs/decisions.md, "Retention"). Each page is read
outside any write transaction; what it found to purge is then deleted (or emptied) by
primary key in one short transaction, so readers never wait and writers wait for one batch
at most. The ID range only bounds the walk: whether a job is old enough is always decided by
its ``timestamp``.

A job is purged when it is older than the cutoff, not ``queued`` or ``running``, and not
among the ``keep`` most recent finished jobs of its object or link and operation.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from sqlalchemy import and_, case, delete, false, func, literal, select, text, true, tuple_, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.clock import now_ms
from ..domain.jobs import JobStatus
from . import retry
from .core import Store
from .db import sqlite_path
from .queue import appended_history, history_entry
from .schema import job_output, jobs, purge_marks

ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_NEWEST_SECOND = 0xFFFFFFFF
# Any lock key will do as long as nothing else in the database uses it: "opsjobs-purge".
_LOCK_KEY = 0x6F70736A6F6273
OUTPUT_STEP = "outputs"


def id_bound(cutoff_ms: int) -> str:
    """An ID above every ID minted in the seconds before ``cutoff_ms`` ends."""
    second = min(_NEWEST_SECOND, max(0, cutoff_ms // 1000 + 1))
    return f"{second:08x}" + "0" * 16


def id_floor(cutoff_ms: int) -> str:
    """An ID below every ID minted from ``cutoff_ms``'s second on."""
    second = min(_NEWEST_SECOND, cutoff_ms // 1000)
    return "" if second <= 0 else f"{second - 1:08x}" + "f" * 16


@dataclass(frozen=True)
class Page:
    """What one page of the walk found, in ID order."""

    purge: list[str]  # the IDs to purge
    scanned: int  # rows read, old enough or not
    kept: int  # old and finished, but kept by the per-owner minimum
    active: int  # old, but queued or running
    last: str | None  # the last ID read: the next page starts after it

    def more(self, size: int) -> bool:
        return self.scanned >= size


def _has_newer(keep: int):
    """True for a job that has at least ``keep`` newer finished jobs of its owner and
    operation: reading at most ``keep`` entries of ix_jobs_retention (a NULL operation is a
    group of its own, tested with IS NULL so that the index still serves it)."""
    if keep <= 0:
        return true()
    newer = jobs.alias("newer")

    def exists(same_operation):
        return (
            select(literal(1))
            .select_from(newer)
            .where(
                newer.c.owner_id == jobs.c.owner_id,
                same_operation,
                newer.c.timestamp >= jobs.c.timestamp,
                tuple_(newer.c.timestamp, newer.c.id) > tuple_(jobs.c.timestamp, jobs.c.id),
                newer.c.status.not_in(ACTIVE),
            )
            .limit(1)
            .offset(keep - 1)
            .exists()
        )

    return case(
        (jobs.c.operation_id.is_(None), exists(newer.c.operation_id.is_(None))),
        else_=exists(newer.c.operation_id == jobs.c.operation_id),
    )


def _has_output(store: Store):
    """Whether a job holds output: stored chunks, or text in its description's streams."""
    chunks = select(literal(1)).where(job_output.c.job_id == jobs.c.id).exists()
    if store.is_sqlite:
        streams = [func.coalesce(func.json_extract(jobs.c.description, f"$.{s}"), "") != "" for s in ("stdout", "stderr")]  # fmt: skip
    else:
        document = func.cast(jobs.c.description, JSONB)
        streams = [func.coalesce(document.op("->>")(s), "") != "" for s in ("stdout", "stderr")]
    return chunks | streams[0] | streams[1]


async def read_page(
    store: Store,
    *,
    after: str,
    cutoff_ms: int,
    keep: int,
    size: int,
    output_only: bool = False,
) -> Page:
    """The next ``size`` jobs after ID ``after`` below the cutoff's ID bound, sorted out.

    ``output_only``: what to purge is output, so only jobs that still hold some count.
    """
    old = and_(jobs.c.timestamp < cutoff_ms, jobs.c.status.not_in(ACTIVE))
    purgeable = _has_newer(keep)
    if output_only:
        purgeable = and_(purgeable, _has_output(store))
    query = (
        select(jobs.c.id, jobs.c.timestamp, jobs.c.status, case((old, purgeable), else_=false()))
        .where(jobs.c.id > after, jobs.c.id < id_bound(cutoff_ms))
        .order_by(jobs.c.id)
        .limit(size)
    )
    async with store.read() as conn:
        rows = (await conn.execute(query)).all()
    purge = [row[0] for row in rows if row[3]]
    old_rows = [row for row in rows if row[1] < cutoff_ms]
    active = sum(1 for row in old_rows if row[2] in ACTIVE)
    return Page(
        purge=purge,
        scanned=len(rows),
        kept=len(old_rows) - active - len(purge),
        active=active,
        last=rows[-1][0] if rows else None,
    )


@dataclass(frozen=True)
class Deleted:
    jobs: int
    chunks: int


async def delete_jobs(store: Store, ids: list[str]) -> Deleted:
    """Delete these jobs (never a queued or running one) and their output, in one
    transaction."""

    async def work(conn: AsyncConnection) -> Deleted:
        gone = await conn.execute(
            delete(jobs).where(jobs.c.id.in_(ids), jobs.c.status.not_in(ACTIVE)).returning(jobs.c.id)
        )  # fmt: skip
        deleted = [row[0] for row in gone]
        chunks = 0
        if deleted:
            result = await conn.execute(delete(job_output).where(job_output.c.job_id.in_(deleted)))
            chunks = result.rowcount
        return Deleted(len(deleted), chunks)

    if not ids:
        return Deleted(0, 0)
    return await retry.write(store, work, "purge jobs")


def _emptied_streams(store: Store):
    """The description with ``stdout`` and ``stderr`` emptied where it has them (an MQTT
    job's description has neither and stays as it is)."""
    if store.is_sqlite:
        return func.json_replace(jobs.c.description, "$.stdout", "", "$.stderr", "")
    document = func.cast(jobs.c.description, JSONB)
    for stream in ("stdout", "stderr"):
        path = text(f"'{{{stream}}}'::text[]")
        document = func.jsonb_set(document, path, func.cast(literal('""'), JSONB), false())
    return func.cast(document, jobs.c.description.type)


async def purge_output(store: Store, ids: list[str], detail: str, mark: str | None) -> Deleted:
    """Delete these jobs' stored output and empty their description's streams; each gets a
    history entry saying so. ``mark``: the output step's position, saved in the same
    transaction."""
    entry = history_entry(now_ms(), "output purged", "retention", detail)

    async def work(conn: AsyncConnection) -> Deleted:
        done: list[str] = []
        if ids:
            result = await conn.execute(
                update(jobs)
                .where(jobs.c.id.in_(ids), jobs.c.status.not_in(ACTIVE))
                .values(description=_emptied_streams(store), history=appended_history(store, literal(entry)))
                .returning(jobs.c.id)
            )  # fmt: skip
            done = [row[0] for row in result]
        chunks = 0
        if done:
            result = await conn.execute(delete(job_output).where(job_output.c.job_id.in_(done)))
            chunks = result.rowcount
        if mark is not None:
            await _save_mark(conn, OUTPUT_STEP, mark)
        return Deleted(len(done), chunks)

    return await retry.write(store, work, "purge output")


async def read_mark(store: Store, step: str) -> str:
    """The last ID the step looked at, or "" before it first ran."""
    async with store.read() as conn:
        result = await conn.execute(
            select(purge_marks.c.position).where(purge_marks.c.step == step)
        )
        return result.scalar_one_or_none() or ""  # fmt: skip


async def _save_mark(conn: AsyncConnection, step: str, position: str) -> None:
    make = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = make(purge_marks).values(step=step, position=position, updated=now_ms())
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[purge_marks.c.step],
            set_={"position": statement.excluded.position, "updated": statement.excluded.updated},
        )
    )


@contextlib.contextmanager
def _file_lock(path: str) -> Iterator[bool]:
    """An exclusive lock on a file beside the SQLite database, if no one else holds it."""
    with open(path + ".purge-lock", "a") as file:  # noqa: PTH123
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


@contextlib.asynccontextmanager
async def exclusive(store: Store) -> AsyncIterator[bool]:
    """Whether this process may purge now: only the one holding the purge lock. On
    PostgreSQL a session advisory lock, taken on a connection of its own without a
    transaction (an open one would hold back VACUUM for the whole run); on SQLite a lock on
    a file beside the database (the workers of one `serve` would otherwise all walk the
    same rows, one writer at a time)."""
    if store.is_sqlite:
        path = sqlite_path(store.db.url)
        if path is None or path == ":memory:":
            yield True
            return
        with _file_lock(path) as got:
            yield got
        return
    async with store.db.writer.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        got = bool(await conn.scalar(select(func.pg_try_advisory_lock(_LOCK_KEY))))
        try:
            yield got
        finally:
            if got:
                await conn.scalar(select(func.pg_advisory_unlock(_LOCK_KEY)))
