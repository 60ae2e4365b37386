"""Changing requests on SQLite: one at a time, and paced while reads are being served
(docs/decisions.md, "A burst of state changes beside reads").

On SQLite every change is serialized on the one writer anyway: what many changing requests
under way at once add is not throughput but turns of the event loop, each in flight taking
its slice of every turn, so that a flat-out burst of them starves the reads beside it. So:

- at most ``writes_at_once`` changing requests are under way in the process; the others wait
  here, for nothing but their turn;
- while reads are being served, a turn starts only once the last one's time is a
  ``write_share`` of the time since it began: a change that took 0.4 ms is followed, with the
  default 0.2, by 1.6 ms for whatever else is waiting. Without reads nothing is paced, so
  changes alone still go as fast as the writer lets them.

Every changing method (POST, PUT, PATCH, DELETE) under the API takes a turn but for the
routes that change nothing or are bounded otherwise: ``POST /jobs`` (a read), the log-in
(Argon2 in a thread, bounded by api/throttle.py), and the hot execute routes, whose writes
batch per turn of the loop on the immediate writer (store/immediate.py) and cost about what
a read does. On PostgreSQL nothing is limited: writes run side by side in the database, and
one at a time would cap them at one per round trip.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Receive, Scope, Send

CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PREFIX = "/node/api/"
# Changing requests that take no turn (see above), by method and path.
EXEMPT = frozenset({("POST", "/node/api/jobs"), ("POST", "/node/api/users/session")})


def takes_turn(method: str, path: str) -> bool:
    return (
        method in CHANGING
        and path.startswith(PREFIX)
        and (method, path) not in EXEMPT
        and not (method == "POST" and path.endswith("/execute"))
    )


# Reads are being served when one came in this recently (s): then changes are paced.
READS_RECENT = 0.1


class WriteTurns:
    """At most ``at_once`` changing requests under way (0: any), and while reads come in,
    at most a ``share`` of the time taken by them (1: no pacing).

    A turn's time is the CPU time of the event loop's thread while it lasts (not wall time:
    a change is not charged for the moments the process was off its core), less what the
    reads served meanwhile took (the loop serves them while the change waits for its commit
    or for its answer to be sent). That is estimated, not measured per read, which would
    cost every read two clock reads: the thread's CPU time between turns over the reads
    served then is what a read costs, the server's glue around it included. What else runs
    during a turn (the dispatcher acting on the firings that changes start) is charged to
    the changes."""

    def __init__(self, at_once: int, share: float) -> None:
        self.limited = at_once > 0
        self._turns = asyncio.Semaphore(max(at_once, 1))
        self._stretch = (1 - share) / share  # time left to others per unit of a turn
        self._next = 0.0  # perf_counter before which, while reads come in, no turn starts
        self.reads = 0  # reads begun, ever
        self._read_cpu = 0.0  # CPU seconds a read takes, smoothed
        self._ended = (0.0, 0)  # thread CPU time and reads when the last turn ended
        self._read_at = -READS_RECENT  # perf_counter when the last read came in

    def _between(self, cpu: float) -> None:
        """Learn what a read costs from the time since the last turn."""
        cpu_then, reads_then = self._ended
        if self.reads > reads_then and cpu_then:
            sample = (cpu - cpu_then) / (self.reads - reads_then)
            self._read_cpu = sample if not self._read_cpu else 0.8 * self._read_cpu + 0.2 * sample

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._turns:
            now = time.perf_counter()
            if self._next > now and now - self._read_at < READS_RECENT:
                await asyncio.sleep(self._next - now)
            began, reads_before = time.thread_time(), self.reads
            self._between(began)
            try:
                await app(scope, receive, send)
            finally:
                ended = time.thread_time()
                own = ended - began - (self.reads - reads_before) * self._read_cpu
                self._next = time.perf_counter() + max(0.0, own) * self._stretch
                self._ended = (ended, self.reads)

    def read(self) -> None:
        self.reads += 1
        self._read_at = time.perf_counter()


class WriteAdmission:
    """The middleware: changing requests take turns; every other request counts as a read."""

    def __init__(self, app: ASGIApp, turns: WriteTurns) -> None:
        self.app = app
        self.turns = turns

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.turns.limited:
            await self.app(scope, receive, send)
        elif takes_turn(scope["method"], scope["path"]):
            await self.turns.run(self.app, scope, receive, send)
        else:
            self.turns.read()
            await self.app(scope, receive, send)
