"""Job output as it is produced: numbered chunks per stream, readable from any byte offset."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.output import Chunk
from . import queue_sqlite
from .channels import OUTPUT_CHANNEL, notify
from .core import Store
from .immediate import NOT_WRITTEN, try_immediate_write
from .schema import job_output


def _insert_once(conn: AsyncConnection):
    # A chunk already stored is left as it is: a write retried after a commit whose answer
    # was lost (a dropped connection) must not fail on its own earlier success for ever.
    if conn.dialect.name == "postgresql":
        return pg_insert(job_output).on_conflict_do_nothing()
    return insert(job_output).prefix_with("OR IGNORE")


async def insert_chunks(conn: AsyncConnection, chunks: Sequence[tuple[str, Chunk]]) -> None:
    """Insert (job ID, chunk) pairs, of one job or several."""
    if chunks:
        await conn.execute(
            _insert_once(conn),
            [
                {
                    "job_id": job_id,
                    "stream": c.stream,
                    "seq": c.seq,
                    "offset": c.offset,
                    "data": c.data,
                }
                for job_id, c in chunks
            ],
        )


async def append_output(store: Store, job_id: str, chunks: Sequence[Chunk]) -> None:
    """Store chunks while the job runs, and wake whoever follows it, in this process and (on
    PostgreSQL) in every other."""
    if not chunks:
        return
    pairs = [(job_id, c) for c in chunks]
    work = lambda conn: queue_sqlite.insert_chunks(conn, pairs)  # noqa: E731
    size = sum(len(c.data) for c in chunks)
    if await try_immediate_write(store.immediate, work, size=size) is NOT_WRITTEN:
        async with store.write() as conn:
            await insert_chunks(conn, pairs)
            # On PostgreSQL, output stored by a runner anywhere wakes the streams following
            # that job in every server, rather than their next poll.
            await notify(conn, OUTPUT_CHANNEL, job_id)
    store.job_signals.changed(job_id)


_OUTPUT_SQL = (
    'SELECT "offset", data FROM job_output WHERE job_id = ? AND stream = ? '
    'AND "offset" + length(data) > ? ORDER BY seq'
)


def _collect(rows: Iterable[tuple[int, bytes]], offset: int, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    for start, data in rows:
        part = bytes(data[max(0, offset - start) :])
        parts.append(part[: limit - size])
        size += len(parts[-1])
        if size >= limit:
            break
    return b"".join(parts)


async def read_output(store: Store, job_id: str, stream: int, offset: int, limit: int) -> bytes:
    """Up to ``limit`` stored bytes of one stream from byte ``offset`` on.

    On SQLite the chunks are read at once on the loop (a few indexed rows, at most ``limit``
    bytes copied): following a live job reads them on every change, and each hop to
    aiosqlite's thread would cost more than the read.
    """
    if store.is_sqlite:
        collect = functools.partial(_collect, offset=offset, limit=limit)
        return store.sqlite_read(_OUTPUT_SQL, (job_id, stream, offset), collect)
    end = job_output.c.offset + func.length(job_output.c.data)
    query = (
        select(job_output.c.offset, job_output.c.data)
        .where(job_output.c.job_id == job_id, job_output.c.stream == stream, end > offset)
        .order_by(job_output.c.seq)
    )
    rows: list[tuple[int, bytes]] = []
    size = 0
    async with store.read() as conn:
        result = await conn.stream(query)
        async for start, data in result:
            rows.append((start, data))
            size += len(data) - max(0, offset - start)
            if size >= limit:
                break
        await result.close()
    return _collect(rows, offset, limit)
