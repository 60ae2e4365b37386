"""The sender: a loop beside the trigger dispatcher, in every server process, that sends
trigger messages as they become due (execution/notify.py does each pass).

A loop of its own, not a step of the dispatcher's: a pass waits for SMTP servers and
programs (up to ``smtp_timeout_seconds`` × 4 for an unreachable server), and firings must
not wait for that. The dispatcher calls :meth:`Sender.wake` when it made pending
deliveries; otherwise the sender sleeps until the next retry is due or a dead sender's
lease runs out (one read of the open rows' index), and at most ``POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ..config import Settings
from ..domain.clock import now_ms
from ..store.core import Store
from ..store.retry import describe
from .notify import deliver_pending, next_attempt_at

log = structlog.get_logger("opsjobs.execution")

POLL_SECONDS = 60.0
ERROR_PAUSE_SECONDS = 1.0
# After a pass that found nothing though a row looked due (a clock step, a row another
# process took meanwhile): not a busy loop.
IDLE_PAUSE_SECONDS = 0.05


class Sender:
    def __init__(self, store: Store, settings: Settings, poll_seconds: float = POLL_SECONDS):
        self.store = store
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()
        self.sent = 0  # attempts made here, for tests and metrics

    def wake(self) -> None:
        """Pending deliveries were made: send them now rather than at the next look."""
        self._wakeup.set()

    async def _pause(self, made: int) -> None:
        wait = self.poll_seconds
        due = await next_attempt_at(self.store)
        if due is not None:
            wait = min(wait, max(0.0, (due - now_ms()) / 1000))
        if made == 0:
            wait = max(wait, IDLE_PAUSE_SECONDS)
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), wait)

    async def run_forever(self) -> None:
        while True:
            try:
                self._wakeup.clear()  # a wake during the pass brings another pass
                made = await deliver_pending(self.store, self.settings)
                self.sent += made
                await self._pause(made)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be restarting: keep going
                log.warning("sending trigger messages failed; retrying", error=describe(exc))
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
