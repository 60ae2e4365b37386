"""The handle a runner uses to stop a run early."""

from __future__ import annotations

import asyncio

from ..domain.jobs import JobStatus


class JobControl:
    """Asks a running job to stop: a cancel request, a lost claim, or the runner shutting down.

    The first request wins; the executor ends the run with its status and reason.
    ``stop_requested`` is a future done at that moment: an executor waits for it beside its
    own work without a task of its own.
    """

    def __init__(self) -> None:
        self.stop_requested: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.status = JobStatus.CANCELLED
        self.reason = "cancelled"

    def stop(self, reason: str, status: JobStatus = JobStatus.CANCELLED) -> None:
        if not self.stop_requested.done():
            self.status = status
            self.reason = reason
            self.stop_requested.set_result(None)
