"""Output stored by one process wakes the streams following that job in another: on
PostgreSQL a NOTIFY on the output channel, sent with the chunks' commit and relayed by each
process's LISTEN connection (store/listen.py) to its job signals. Without it a stream
served elsewhere than where the job runs sees output only at its next poll."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.domain.output import Chunk
from opsjobs.store.core import Store
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.listen import listen
from opsjobs.store.output import append_output

# Only a bound on a hang: a NOTIFY arrives in milliseconds.
WAIT_SECONDS = 10


@contextlib.asynccontextmanager
async def _stores(url: str):
    writer, follower = Store(url), Store(url)
    await writer.open()
    await follower.open()
    ready = asyncio.Event()
    listening = asyncio.create_task(listen(follower, ready))
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            await ready.wait()
        yield writer, follower
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await writer.close()
        await follower.close()


async def _job(store: Store) -> str:
    job_id = new_id()
    row = {"id": job_id, "owner_id": "1", "owner_type": 1, "timestamp": now_ms()}
    await insert_jobs(store, [row])
    return job_id


async def test_output_stored_in_one_process_wakes_a_follower_in_another(backend, database_url):
    if backend != "postgresql":
        pytest.skip("between processes on SQLite, a stream polls: there is no NOTIFY")
    async with _stores(database_url) as (writer, follower):
        followed, other = await _job(writer), await _job(writer)
        with (
            follower.job_signals.watch(followed) as changed,
            follower.job_signals.watch(other) as unrelated,
        ):
            await append_output(writer, followed, [Chunk(stream=1, seq=0, offset=0, data=b"hi")])
            async with asyncio.timeout(WAIT_SECONDS):
                await changed.wait()
            assert not unrelated.is_set()  # the payload names the job: no other stream wakes
