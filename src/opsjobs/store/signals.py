"""In-process wake-ups about jobs.

The job row stays the only truth; these signals only spare a waiter its poll when the change
happened in this very process (an embedded runner writing output, an API request cancelling
a job). Changes made by other processes reach waiters through their slow poll, or through
LISTEN/NOTIFY on PostgreSQL (see ``store.listen``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class JobSignals:
    def __init__(self) -> None:
        self._watchers: dict[str, set[asyncio.Event]] = {}
        self._cancel_handlers: list[Callable[[str], None]] = []

    def changed(self, job_id: str) -> None:
        """A job's row or output changed: wake whoever watches it."""
        for event in self._watchers.get(job_id, ()):
            event.set()

    @contextmanager
    def watch(self, job_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever ``changed(job_id)`` is called while the block runs."""
        event = asyncio.Event()
        self._watchers.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers.get(job_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._watchers[job_id]

    def on_cancel(self, handler: Callable[[str], None]) -> Callable[[], None]:
        """Call ``handler(job_id)`` when a cancel is requested here; answers the unsubscriber."""
        self._cancel_handlers.append(handler)
        return lambda: self._cancel_handlers.remove(handler)

    def cancel_requested(self, job_id: str) -> None:
        for handler in list(self._cancel_handlers):
            handler(job_id)
