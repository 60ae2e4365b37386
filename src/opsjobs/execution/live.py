"""Storing a job's output while it runs, so /output and /stream can show it live.

Writes are batched: the first bytes go out at once (a follower sees output without delay),
later ones at most every ``interval`` seconds, one insert for whatever piled up meanwhile.
A failed write keeps its chunks and retries them first, so offsets never skip; whatever is
still unsent at the end goes into the finishing transaction.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from ..domain.output import Chunk
from ..store.core import Store
from ..store.output import append_output
from ..store.retry import describe
from .output import OutputRecorder

log = structlog.get_logger("opsjobs.execution")

FLUSH_INTERVAL_SECONDS = 0.05


class LiveOutput:
    def __init__(
        self,
        store: Store,
        job_id: str,
        recorder: OutputRecorder,
        interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.recorder = recorder
        self.interval = interval
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._unsent: list[Chunk] = []
        self._failures = 0
        # Started by the first output: a silent run (most are) costs no task at all.
        self._task: asyncio.Task | None = None

    def on_output(self) -> None:
        """New output was fed to the recorder."""
        if self._task is None and not self._closing.is_set():
            self._task = asyncio.create_task(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while not self._closing.is_set():
            await self._wake.wait()
            self._wake.clear()
            if self._closing.is_set():
                return
            self._unsent += self.recorder.take_chunks()
            try:
                await append_output(self.store, self.job_id, self._unsent)
                self._unsent = []
                self._failures = 0
            except Exception as exc:  # a database hiccup; the chunks wait for the next write
                self._failures += 1
                if self._failures == 1:  # one line per streak, not one per flush
                    log.warning(
                        "storing live output failed; keeping it", job_id=self.job_id,
                        error=describe(exc),
                    )  # fmt: skip
            with contextlib.suppress(TimeoutError):  # not wait_for: it can swallow a cancel
                async with asyncio.timeout(self.interval):
                    await self._closing.wait()

    async def close(self) -> list[Chunk]:
        """Stop writing; the chunks still to store, the stream completed past the cap."""
        self._closing.set()
        self._wake.set()
        if self._task is not None:  # never raises: a failed writer leaves chunks unsent
            await asyncio.wait({self._task})
        return self._unsent + self.recorder.final_chunks()

    def abort(self) -> None:
        """Stop at once (the run itself was torn down); unsent output is dropped."""
        self._closing.set()
        if self._task is not None:
            self._task.cancel()
