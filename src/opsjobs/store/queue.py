"""The job row is the queue: recording a job as ``queued`` is what submits it to runners."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from .core import Store
from .schema import jobs


async def enqueue(store: Store, row: dict[str, Any]) -> None:
    """Insert a queued job (``status`` defaults to queued) and wake the runners."""
    async with store.write() as conn:
        await conn.execute(insert(jobs).values(**row))
    store.jobs_queued.set()
