"""Helpers for the background asyncio tasks that the app and the server's composition own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable


async def cancel_and_wait(tasks: Iterable[asyncio.Task]) -> None:
    """Cancel each task and return once it has ended; its cancellation is not an error.
    One at a time, in order: a task's teardown may still rely on the ones after it."""
    for task in tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
