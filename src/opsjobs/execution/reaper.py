"""The reaper: running jobs whose runner stopped answering become ``lost``.

Every runner reaps, whoever's jobs they are; the update is guarded by status and heartbeat,
so several reapers at once do no harm. A runner that merely stalled and comes back finds its
jobs gone at its next heartbeat and stops them (see runner.py): ``lost`` is final.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection

import structlog

from ..store.core import Store
from ..store.queue import reap_lost

log = structlog.get_logger("opsjobs.execution")


def reap_interval(lost_after_seconds: float) -> float:
    # Twice per limit: a job is declared lost at most 1.5 limits after its last heartbeat.
    return max(0.05, lost_after_seconds / 2)


async def reap_forever(
    store: Store, lost_after_seconds: float, own: Callable[[], Collection[str]] = set
) -> None:
    """Reap until cancelled; ``own()`` names the jobs this runner is running (never lost)."""
    while True:
        try:
            lost = await reap_lost(store, lost_after_seconds, list(own()))
            if lost:
                log.warning("jobs lost: their runner stopped answering", job_ids=lost)
        except Exception:  # a database hiccup must not end the loop
            log.warning("reaping lost jobs failed", exc_info=True)
        await asyncio.sleep(reap_interval(lost_after_seconds))
