"""Recording finished jobs in group commits, and never dropping one.

Every slot of a runner ends its jobs on its own, but on SQLite they all share one writer,
and a transaction costs far more than the rows in it. So ends are queued here and written
by one task, all that are waiting in one transaction: with one job at a time that is one
transaction per job, as before; with many, the cost is shared.

A result that cannot be written (the database is down, its disk full, a lock held) is kept
and written again, with a growing pause, for as long as the runner lives: meanwhile the
runner's own heartbeat keeps its jobs from being judged lost, and if one was marked lost all
the same, the late result is still recorded (store/queue.py). ``record`` returns only once
the end is stored.

On PostgreSQL the statement that stores the ends also claims the runner's next jobs, one per
slot they free (store/queue.py, ``finish_and_claim``): they are handed to ``on_claimed``
before any of those ends' ``record`` returns, so a slot is never free and idle while a claim
of its own makes the round trip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import structlog

from ..domain.outcome import Outcome
from ..store.core import Store
from ..store.queue import ClaimedJob, finish_and_claim, finish_many
from ..store.retry import describe

log = structlog.get_logger("opsjobs.execution")

MAX_BATCH = 64
FIRST_PAUSE_SECONDS = 0.1
MAX_PAUSE_SECONDS = 5.0
# A failure streak is logged at its first attempt and then every this many.
LOG_EVERY = 10


class Finisher:
    def __init__(
        self,
        store: Store,
        runner: str,
        on_claimed: Callable[[list[ClaimedJob]], None] | None = None,
        tags: Sequence[str] = (),
    ) -> None:
        self.store = store
        self.runner = runner
        self._on_claimed = on_claimed
        self._tags = tuple(tags)
        # Set while no write that may claim is under way (see stop_claiming).
        self._not_claiming = asyncio.Event()
        self._not_claiming.set()
        self._pending: list[tuple[str, Outcome, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    @property
    def unrecorded(self) -> dict[str, Outcome]:
        """Job ID -> how it ended, for the ends not written yet."""
        return {job_id: outcome for job_id, outcome, _ in self._pending}

    async def record(self, job_id: str, outcome: Outcome) -> None:
        """Wait until the job's outcome is written (retried for as long as it takes)."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((job_id, outcome, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        failures = 0
        since = 0.0
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                try:
                    await self._write({j: o for j, o, _ in batch})
                except Exception as exc:
                    failures += 1
                    if failures == 1:
                        since = time.monotonic()
                    if failures % LOG_EVERY == 1:
                        log.warning(
                            "recording finished jobs failed; keeping them and retrying",
                            jobs=len(self._pending),
                            attempt=failures,
                            error=describe(exc),
                        )
                    pause = min(MAX_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2 ** (failures - 1))
                    await asyncio.sleep(pause)
                    continue
                # New ends are only ever appended: the batch is still the front of the list.
                del self._pending[: len(batch)]
                if failures:
                    log.info(
                        "finished jobs recorded after failures",
                        attempts=failures + 1,
                        seconds=round(time.monotonic() - since, 1),
                    )
                    failures = 0
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _write(self, outcomes: dict[str, Outcome]) -> None:
        on_claimed = self._on_claimed
        if on_claimed is None or self.store.is_sqlite:
            await finish_many(self.store, self.runner, outcomes)
            return
        # The slots of these jobs are still taken (their ``record`` has not returned):
        # claiming that many cannot make the runner's jobs outnumber its slots.
        self._not_claiming.clear()
        try:
            _, claimed = await finish_and_claim(
                self.store, self.runner, outcomes, self._tags, len(outcomes)
            )
            if claimed:
                on_claimed(claimed)
        finally:
            self._not_claiming.set()

    async def stop_claiming(self) -> None:
        """Claim no more; returns once a write that may still claim is over (its jobs
        handed to ``on_claimed``)."""
        self._on_claimed = None
        await self._not_claiming.wait()

    async def close(self, patience: float = 0.0) -> dict[str, Outcome]:
        """Stop; ends still unwritten get ``patience`` more seconds. Answers those that
        could not be written even then (the caller logs them: the last trace they leave)."""
        deadline = time.monotonic() + patience
        while self._pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        left = self.unrecorded
        for _, _, done in self._pending:
            if not done.done():
                done.set_exception(RuntimeError("the runner stopped before recording the job"))
        self._pending.clear()
        return left
