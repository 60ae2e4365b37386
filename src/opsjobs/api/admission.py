"""Changing requests on SQLite: one at a time, and paced while reads are being served
(docs/decisions.md, "A burst of state changes beside reads").

On SQLite every change is serialized on the one writer anyway: what many changing requests
under way at once add is not throughput but turns of the event loop, each in flight taking
its slice of every turn, so that a flat-out burst of them starves the reads beside it. So:

- at most ``writes_at_once`` changing requests are under way in the process; the others wait
  here, for nothing but their turn;
- while reads are being served, a turn starts only once the last one's time is a
  ``write_share`` of the time since it began: a change that took 0.4 ms is followed, with the
  default 0.05, by 7.6 ms for whatever else is waiting. Without reads nothing is paced, so
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
    a change is not charged for the moments the process was off its core), less that of the
    reads served meanwhile (the loop serves them while the change waits for its commit or
    for its answer to be sent), each measured while a turn is open: two clock reads a read
    then, none otherwise. What else runs during a turn is charged to the change (the
    dispatcher acting on the firings that changes start, granian's work around each read);
    what a change costs outside its turn is not (its HTTP parsing, the body limit, the
    dispatcher's work after the turn): over HTTP a change costs about twice what its turn is
    charged, which the default share allows for."""

    def __init__(self, at_once: int, share: float) -> None:
        self.limited = at_once > 0
        self._turns = asyncio.Semaphore(max(at_once, 1))
        self._stretch = (1 - share) / share  # time left to others per unit of a turn
        self._next = 0.0  # perf_counter before which, while reads come in, no turn starts
        self._open = 0  # turns under way
        self._read_cpu = 0.0  # CPU time of the reads begun while a turn was open, ever
        self._read_at = -READS_RECENT  # perf_counter when the last read came in
        self._turn_began = 0.0  # thread CPU time when the last turn began

    async def run(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async with self._turns:
            now = time.perf_counter()
            if self._next > now and now - self._read_at < READS_RECENT:
                await asyncio.sleep(self._next - now)
            began, reads_before = time.thread_time(), self._read_cpu
            self._turn_began = began
            self._open += 1
            try:
                await app(scope, receive, send)
            finally:
                self._open -= 1
                own = time.thread_time() - began - (self._read_cpu - reads_before)
                self._next = time.perf_counter() + max(0.0, own) * self._stretch

    async def read(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        self._read_at = time.perf_counter()
        if not self._open:  # no turn to tell it apart from: nothing to measure
            await app(scope, receive, send)
            return
        began = time.thread_time()
        try:
            await app(scope, receive, send)
        finally:
            # A read that outlived the turn it began in (a stream) counts from this one's start.
            self._read_cpu += time.thread_time() - max(began, self._turn_began)


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
            await self.turns.read(self.app, scope, receive, send)
