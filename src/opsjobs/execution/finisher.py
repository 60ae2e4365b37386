"""Recording finished jobs in group commits.

Every slot of a runner ends its jobs on its own, but on SQLite they all share one writer,
and a transaction costs far more than the rows in it. So ends are queued here and written
by one task, all that are waiting in one transaction: with one job at a time that is one
transaction per job, as before; with many, the cost is shared.
"""

from __future__ import annotations

import asyncio

from ..store.core import Store
from ..store.queue import Ending, finish_many

MAX_BATCH = 64


class Finisher:
    def __init__(self, store: Store, runner: str) -> None:
        self.store = store
        self.runner = runner
        self._pending: list[tuple[Ending, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def record(self, ending: Ending) -> None:
        """Wait until the ending is written; raises what the write raised."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((ending, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                try:
                    await finish_many(self.store, self.runner, [ending for ending, _ in batch])
                except Exception as exc:  # each waiter retries on its own (runner.py)
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})
        for _, done in self._pending:
            if not done.done():
                done.set_exception(RuntimeError("the runner stopped before recording the job"))
        self._pending.clear()
