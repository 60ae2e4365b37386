"""Fresh working directories for runs, made ahead and removed behind, off the event loop.

Every run gets a directory of its own that no run used before (``mkdtemp``: new, empty,
mode 0700), and once the run is over the directory goes, with whatever the run left in it.

Making and removing a directory are journalled filesystem operations: on a disk filesystem
each costs a tenth of a millisecond or more, together about a third of what starting and
finishing a trivial script costs a runner. So one thread of their own does both: it keeps a
few directories ready (a runner asks for a few per slot) and removes used ones behind the
runs. A run never waits for that thread: when none is ready, it makes its own at once.

The thread is woken in batches, not per run: waking a thread makes the two take turns on the
core and for the GIL, which costs more than the directory work itself. It is woken when half
of the ready directories are gone or half as many used ones wait to be removed; otherwise
it looks on its own twice a second, so a used directory is never left for long.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import deque

PREFIX = "opsjobs-job-"
# How long a used directory may wait for the rest of its batch before it is removed anyway.
LINGER_SECONDS = 0.5


def _remove(path: str) -> None:
    try:
        os.rmdir(path)  # most runs leave their directory empty: one call, not rmtree's dozen
    except OSError:
        shutil.rmtree(path, ignore_errors=True)


class WorkDirs:
    def __init__(self, root: str | None = None, ready: int = 1) -> None:
        self.root = root
        self.ready = max(0, ready)
        # deque's append and popleft are atomic: the loop and the thread share them freely.
        self._fresh: deque[str] = deque()
        self._used: deque[str] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()
        self._batch = max(1, self.ready // 2)

    def take(self) -> str:
        """A new, empty directory for one run; OSError if none can be made."""
        try:
            path = self._fresh.popleft()
        except IndexError:
            path = tempfile.mkdtemp(prefix=PREFIX, dir=self.root)
        if len(self._fresh) <= self.ready - self._batch:
            self._wake_worker()
        return path

    def give_back(self, path: str) -> None:
        """The run in ``path`` is over: remove it, contents and all, soon."""
        if self._closing:  # no thread any more to do it
            _remove(path)
            return
        self._used.append(path)
        if len(self._used) >= self._batch:
            self._wake_worker()

    def _wake_worker(self) -> None:
        if self._thread is None:
            with self._starting:
                if self._thread is None and not self._closing:
                    self._thread = threading.Thread(
                        target=self._work, name="opsjobs-workdirs", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def _remove_used(self) -> None:
        while self._used:
            _remove(self._used.popleft())

    def _work(self) -> None:
        while not self._closing:
            self._wake.wait(LINGER_SECONDS)
            self._wake.clear()
            self._remove_used()
            while len(self._fresh) < self.ready and not self._closing:
                try:
                    self._fresh.append(tempfile.mkdtemp(prefix=PREFIX, dir=self.root))
                except OSError:
                    break  # a missing or full root: runs make their own, and report why

    def close(self) -> None:
        """Remove every directory, ready or used, and stop the thread. Blocks: from a
        coroutine, call it through ``asyncio.to_thread``."""
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._remove_used()
        while self._fresh:
            _remove(self._fresh.popleft())
