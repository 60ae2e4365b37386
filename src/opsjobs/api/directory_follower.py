"""Following changes to users, rights and the object graph made by other processes.

Each process keeps the directory (who may see what) in memory; a change made here applies at
once, and a change made by another process reaches this one through this loop: woken by a
NOTIFY on PostgreSQL, and by a short poll that covers SQLite and lost wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ..store.core import Store
from ..store.db import unavailable

log = structlog.get_logger("opsjobs.api")

# How often a process checks whether another process changed users, rights or the object
# graph.
DIRECTORY_POLL_SECONDS = 0.5


async def follow_directory(store: Store) -> None:
    """Refresh the store's directory whenever it may have changed, until cancelled."""
    changed = store.directory_changed
    while True:
        # asyncio.timeout, never wait_for: on Python 3.11, a cancel that lands while the
        # event is being set is swallowed by wait_for, and this loop would never end (the
        # app's shutdown then waited for it forever).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DIRECTORY_POLL_SECONDS):
                await changed.wait()
        changed.clear()
        try:
            await store.refresh_directory()
        except Exception as exc:  # a database hiccup must not end the loop
            if unavailable(exc):  # an outage: one line each time, not a traceback
                log.warning("directory refresh failed: database unavailable", error=repr(exc))
            else:
                log.warning("directory refresh failed", exc_info=True)
