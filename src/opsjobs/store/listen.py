"""Wake-ups from other processes on PostgreSQL: LISTEN on a dedicated connection.

A pooled connection cannot LISTEN (the pool hands it to others between statements), so a
runner keeps one asyncpg connection of its own. Notifications turn into the same in-process
signals that an enqueue or cancel in this process raises, so the runner has one way to wait.
If the connection drops, it reconnects; what was missed meanwhile is caught by a forced
wake-up after reconnecting and, failing that, by the runner's slow poll.
"""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from .channels import (
    CANCEL_CHANNEL,
    DIRECTORY_CHANNEL,
    FIRINGS_CHANNEL,
    OUTPUT_CHANNEL,
    QUEUED_CHANNEL,
)
from .core import Store
from .db import asyncpg_dsn

log = structlog.get_logger("opsjobs.store")

RECONNECT_SECONDS = 1.0


async def _subscribe(conn: asyncpg.Connection, store: Store, runner: bool) -> None:
    def on_queued(*_args) -> None:
        store.jobs_queued.set()

    def on_cancel(_conn, _pid, _channel, job_id: str) -> None:
        store.job_signals.cancel_requested(job_id)

    def on_directory(*_args) -> None:
        store.directory_changed.set()

    def on_firings(*_args) -> None:
        store.firings_due.set()

    def on_output(_conn, _pid, _channel, job_id: str) -> None:
        store.job_signals.changed(job_id)

    if runner:
        await conn.add_listener(QUEUED_CHANNEL, on_queued)
    await conn.add_listener(CANCEL_CHANNEL, on_cancel)
    await conn.add_listener(DIRECTORY_CHANNEL, on_directory)
    await conn.add_listener(FIRINGS_CHANNEL, on_firings)
    # Any process may serve a stream of a job that runs elsewhere, a runner's own too.
    await conn.add_listener(OUTPUT_CHANNEL, on_output)


async def listen(store: Store, ready: asyncio.Event | None = None, *, runner: bool = True) -> None:
    """Relay NOTIFYs to ``store`` until cancelled. Without a ``runner`` in this process
    nothing waits for queued jobs, so their channel is not listened to: every job queued
    anywhere would otherwise cost PostgreSQL a notification to send and this process one to
    read."""
    dsn = asyncpg_dsn(store.db.url)
    while True:
        conn = None
        try:
            conn = await asyncpg.connect(dsn)
            closed = asyncio.Event()
            conn.add_termination_listener(lambda _c, closed=closed: closed.set())
            await _subscribe(conn, store, runner)
            # Jobs queued while we were not listening: look now rather than at the next poll.
            store.jobs_queued.set()
            store.directory_changed.set()
            store.firings_due.set()
            if ready is not None:
                ready.set()
            await closed.wait()
            log.warning("LISTEN connection closed; reconnecting")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database may be restarting: keep trying
            log.warning("LISTEN connection failed; retrying", error=str(exc))
        finally:
            if conn is not None and not conn.is_closed():
                conn.terminate()
        await asyncio.sleep(RECONNECT_SECONDS)
