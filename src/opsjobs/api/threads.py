"""The HTTP server's I/O threads yield the core to the event loop's thread.

granian reads and writes sockets on threads of its own (tokio's), and hands each request to
the event loop's thread, which runs all of opsjobs's Python: routes, the embedded runner,
SQLite. When both share a core, every network event woke an I/O thread that preempted the
loop's thread, only to wait for the GIL that thread holds: five context switches per
executed job, on a core that was the bottleneck. Lowering the I/O threads' priority (nice
19) lets the loop's thread finish its slice; the I/O threads run whenever it waits, which
under load is often enough, and on a machine with cores to spare it changes nothing.
Measured with `make bench` (one core, execute → finished against a bare loop): from 0.41–0.53
of the bare loop to 0.64–0.68, the server's CPU per job from 1.5–1.8 ms to 1.1–1.2 ms
(docs/decisions.md, "Execution throughput").

Best effort: Linux only (threads are found in /proc by name), and nothing happens if the
server names its threads otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

IO_THREAD_PREFIX = "tokio-"
IO_THREAD_NICE = 19

# The HTTP server starts its I/O threads after the app's startup, and may start more later:
# looked for soon after start-up, then every half minute.
IO_THREADS_CHECK_SECONDS = (0.1, 0.5, 2.0)
IO_THREADS_RECHECK_SECONDS = 30.0


def yield_io_threads() -> int:
    """Lower the priority of this process's HTTP I/O threads; how many there are."""
    tasks = Path("/proc/self/task")
    lowered = 0
    try:
        threads = list(tasks.iterdir())
    except OSError:
        return 0
    for thread in threads:
        try:
            if not (thread / "comm").read_text().startswith(IO_THREAD_PREFIX):
                continue
            os.setpriority(os.PRIO_PROCESS, int(thread.name), IO_THREAD_NICE)
        except (OSError, ValueError):
            continue
        lowered += 1
    return lowered


async def keep_io_threads_yielding() -> None:
    """Lower the I/O threads' priority as the server starts them, until cancelled."""
    for pause in itertools.chain(
        IO_THREADS_CHECK_SECONDS, itertools.repeat(IO_THREADS_RECHECK_SECONDS)
    ):
        await asyncio.sleep(pause)
        yield_io_threads()
