"""Job output as it is produced: numbered chunks per stream, readable from any byte offset."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from . import queue_sqlite
from .core import Store
from .immediate import Busy
from .schema import job_output

# Above this many bytes a write is not worth blocking the event loop for (see immediate.py).
IMMEDIATE_MAX_BYTES = 256 * 1024

STDOUT = 1
STDERR = 2
STREAMS = {"stdout": STDOUT, "stderr": STDERR}


@dataclass(frozen=True)
class Chunk:
    stream: int
    seq: int
    offset: int
    data: bytes


async def insert_chunks(conn: AsyncConnection, chunks: Sequence[tuple[str, Chunk]]) -> None:
    """Insert (job ID, chunk) pairs, of one job or several."""
    if chunks:
        await conn.execute(
            insert(job_output),
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
    """Store chunks while the job runs, and wake whoever follows it in this process."""
    if not chunks:
        return
    pairs = [(job_id, c) for c in chunks]
    done = False
    if store.immediate is not None and sum(len(c.data) for c in chunks) <= IMMEDIATE_MAX_BYTES:
        try:
            done = await store.immediate.run_together(
                lambda conn: queue_sqlite.insert_chunks(conn, pairs) or True
            )
        except Busy:
            pass
    if not done:
        async with store.write() as conn:
            await insert_chunks(conn, pairs)
    store.job_signals.changed(job_id)


async def read_output(store: Store, job_id: str, stream: int, offset: int, limit: int) -> bytes:
    """Up to ``limit`` stored bytes of one stream from byte ``offset`` on."""
    end = job_output.c.offset + func.length(job_output.c.data)
    query = (
        select(job_output.c.offset, job_output.c.data)
        .where(job_output.c.job_id == job_id, job_output.c.stream == stream, end > offset)
        .order_by(job_output.c.seq)
    )
    parts: list[bytes] = []
    size = 0
    async with store.read() as conn:
        result = await conn.stream(query)
        async for start, data in result:
            part = bytes(data[max(0, offset - start) :])
            parts.append(part[: limit - size])
            size += len(parts[-1])
            if size >= limit:
                break
        await result.close()
    return b"".join(parts)
