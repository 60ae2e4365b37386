"""The dispatcher: acts on due trigger firings and due schedules as they fall due, in every
server process.

It sleeps until the earliest due time of either (one read of the index on ``due_at``, one
of the index on ``next_run_at``), or until a change here or a NOTIFY from another process
says a firing or a schedule was made (``store.firings_due``),
or at most ``trigger_poll_seconds``. Each firing acts once in total however many dispatchers
run (store/firings.py); one that fell due while no dispatcher ran acts at the next start,
marked late. The same holds for each due time of a schedule (service/schedule_runs.py).

It also moves running batches on (service/batch_runs.py): while one runs, it looks again
when a job ends in this process (``store.jobs_ended``), when a batch is made (here, or
announced by NOTIFY), or at most every ``BATCH_POLL_SECONDS`` (jobs ended by runners in
other processes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from ..config import Settings
from ..domain.clock import now_ms
from ..service.batch_runs import run_batches
from ..service.firing import fire_due
from ..service.schedule_runs import run_due
from ..store.core import Store
from ..store.retry import describe
from ..store.schedules import next_due as next_schedule_due
from ..store.triggers import next_due

log = structlog.get_logger("opsjobs.execution")

BATCH = 200
ERROR_PAUSE_SECONDS = 1.0
# While a batch runs: how long a job's end in another process may wait to be seen.
BATCH_POLL_SECONDS = 0.2
# Woken by a job's end here: a moment for the ends that follow it (a runner's slots end
# together) to be handled in the same step. The batch's other queued jobs keep the runner
# busy meanwhile.
BATCH_SETTLE_SECONDS = 0.02


class Dispatcher:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Callable[[], int] = now_ms,
        on_messages: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        # Called when firings made messages to send (the sender's wake-up, execution/sender.py).
        self.on_messages = on_messages
        self.fired = 0  # firings acted on here, for tests and metrics
        self.scheduled = 0  # schedules' due times acted on here
        self.batch_steps = 0  # steps taken here on running batches
        self._batches_open = False  # whether the last look found a running batch

    async def run_schedules(self) -> int:
        """Run the schedules due now; how many due times were acted on here."""
        done = await run_due(
            self.store,
            default_timeout=self.settings.default_timeout_seconds,
            late_after_ms=int(self.settings.trigger_late_after_seconds * 1000),
            limit=BATCH,
            now=self.clock(),
        )
        self.scheduled += len(done)
        for run in done:
            if run.changes.get("stopped_reason"):
                log.warning(
                    "schedule stopped", schedule=run.id, reason=run.changes["stopped_reason"]
                )
        return len(done)

    async def run_batches(self) -> int:
        """Move the running batches on; how many steps were taken here."""
        self.store.jobs_ended.clear()  # ends from now on are seen by the next look
        done, self._batches_open = await run_batches(
            self.store, default_timeout=self.settings.default_timeout_seconds, now=self.clock()
        )
        self.batch_steps += len(done)
        for step in done:
            if step.changes.get("stopped_reason"):
                log.warning("batch stopped", batch=step.id, reason=step.changes["stopped_reason"])
        return len(done)

    async def _move_batches(self) -> None:
        """A failure here is logged and leaves firings and schedules to run regardless."""
        try:
            await self.run_batches()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("batch step failed; retrying", error=describe(exc))
            self._batches_open = True  # look again soon

    async def run_once(self) -> int:
        """Act on what is due now; how many firings were acted on here."""
        done = await fire_due(
            self.store,
            default_timeout=self.settings.default_timeout_seconds,
            late_after_ms=int(self.settings.trigger_late_after_seconds * 1000),
            limit=BATCH,
            now=self.clock(),
        )
        self.fired += len(done)
        if any(acted.delivery["status"] == "pending" for acted in done):
            self.on_messages()
        for acted in done:
            if acted.delivery["status"] == "failed":
                log.warning(
                    "trigger firing failed",
                    firing=acted.firing.id,
                    owner=acted.firing.owner_id,
                    detail=acted.delivery["detail"],
                )
        return len(done)

    async def _pause(self) -> None:
        """Until the next firing is due, something was announced, or the poll interval."""
        self.store.firings_due.clear()
        wait = self.settings.trigger_poll_seconds
        times = [
            t
            for t in (await next_due(self.store), await next_schedule_due(self.store))
            if t is not None
        ]
        due_at = min(times, default=None)
        if due_at is not None:
            wait = min(wait, max(0.0, (due_at - self.clock()) / 1000))
        if self._batches_open:
            wait = min(wait, BATCH_POLL_SECONDS)
        if wait > 0:
            await self._wake_within(wait)

    async def _wake_within(self, wait: float) -> None:
        events = [self.store.firings_due]
        if self._batches_open:
            events.append(self.store.jobs_ended)
        waits = [asyncio.ensure_future(event.wait()) for event in events]
        try:
            await asyncio.wait(waits, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        if self._batches_open and not self.store.firings_due.is_set():
            await asyncio.sleep(BATCH_SETTLE_SECONDS)

    async def run_forever(self) -> None:
        while True:
            try:
                fired = await self.run_once()
                scheduled = await self.run_schedules()
                await self._move_batches()
                if max(fired, scheduled) >= BATCH:
                    continue  # more are due: no pause
                await self._pause()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: keep going
                log.warning("trigger dispatch failed; retrying", error=describe(exc))
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
