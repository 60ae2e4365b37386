"""`make soak`: a mixed workload at about half the measured capacity, for a while.

``opsjobs serve`` (embedded runner, default settings) on a fresh database with one object
and an operation whose script leaves a start and an end mark per run (see stack.py). The mix,
by share of requests: reads of one job, lists of an object's jobs, executions of the
operation, custom results appended to a job. First the capacity of that mix is measured
(closed loop, ``--capacity-seconds``), unless ``--rate`` gives the rate; then the mix is sent
open-loop at half of it: each request has its scheduled time, and its latency counts from
then, so a stall of the server shows as latency rather than as fewer requests.

Passes when: no request failed (any answer but 2xx, or none); the p99 latency of the
second half of the run is at most P99_DRIFT times that of the first half; the server's resident
memory at the end is under 5% above what it was after the warm-up; every execution answered
with a job ID ran exactly once (one start and one end mark) and ended ``succeeded``, and the
database holds no job that no execution answered. Exits 1 otherwise.

    python -m bench.soak --seconds 120            # SOAK_SECONDS=120 make soak
    python -m bench.soak --rate 300 --seconds 600
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from .stack import LOGIN, PASSWORD, Stack

MIX = (("read", 50), ("list", 25), ("execute", 15), ("result", 10))
# Stable: the p99 of the run's second half at most this many times that of its first half.
# A drift, not a single stall (on a shared machine another process can take the core for a
# moment, which shows in one window of the table but says nothing about the server).
P99_DRIFT = 2.0
RSS_GROWTH_LIMIT = 0.05
RSS_SAMPLE_SECONDS = 5.0
MAX_IN_FLIGHT = 512
SETTLE_SECONDS = 120.0


@dataclass
class Tally:
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (sent at, seconds)
    errors: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    behind: int = 0  # requests sent late because MAX_IN_FLIGHT were outstanding

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class Mix:
    """Sends one request of the mix, picked at random by share."""

    def __init__(self, stack: Stack, client: httpx.AsyncClient, tally: Tally) -> None:
        self.stack, self.client, self.tally = stack, client, tally
        self.kinds = [kind for kind, share in MIX for _ in range(share)]
        self.execute_path = stack.execute_path("job")
        self.list_path = f"/node/api/objects/{stack.object_id}/jobs?limit=20"

    async def one(self, scheduled: float) -> None:
        kind = random.choice(self.kinds)
        if kind != "execute" and not self.tally.executed:
            kind = "execute"  # nothing to read yet
        try:
            if kind == "execute":
                response = await self.client.post(self.execute_path)
                if response.status_code == 200:
                    self.tally.executed.append(response.json())
            elif kind == "read":
                job = random.choice(self.tally.executed)
                response = await self.client.get(f"/node/api/jobs/{job}")
            elif kind == "list":
                response = await self.client.get(self.list_path)
            else:
                job = random.choice(self.tally.executed)
                response = await self.client.patch(
                    f"/node/api/jobs/{job}/results", json={"soak": scheduled}
                )
        except httpx.HTTPError as exc:
            self.tally.error(f"{kind}: {type(exc).__name__}")
            return
        self.tally.by_kind[kind] = self.tally.by_kind.get(kind, 0) + 1
        if not response.is_success:
            self.tally.error(f"{kind}: {response.status_code}")
            return
        self.tally.latencies.append((scheduled, time.monotonic() - scheduled))


def _client(stack: Stack) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=64)
    return httpx.AsyncClient(base_url=stack.url, auth=(LOGIN, PASSWORD), timeout=60, limits=limits)


async def measure_capacity(stack: Stack, seconds: float, tally: Tally, workers: int = 32) -> float:
    """Requests per second of the mix, closed loop with ``workers`` outstanding."""
    async with _client(stack) as client:
        mix = Mix(stack, client, tally)
        await mix.one(time.monotonic())  # one job to read
        end = time.monotonic() + seconds

        async def worker() -> int:
            done = 0
            while time.monotonic() < end:
                await mix.one(time.monotonic())
                done += 1
            return done

        started = time.monotonic()
        total = sum(await asyncio.gather(*(worker() for _ in range(workers))))
        rate = total / (time.monotonic() - started)
    if tally.errors:
        raise RuntimeError(f"errors while measuring capacity: {tally.errors}")
    return rate


async def paced(stack: Stack, rate: float, seconds: float, tally: Tally, rss: list) -> None:
    """The mix at ``rate`` requests/s for ``seconds``, sampling the server's RSS."""
    server = psutil.Process(stack.server.pid)
    pending: set[asyncio.Task] = set()
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def send(scheduled: float) -> None:
        try:
            await mix.one(scheduled)
        finally:
            gate.release()

    async with _client(stack) as client:
        mix = Mix(stack, client, tally)
        start = time.monotonic()
        next_sample = start
        n = 0
        while True:
            scheduled = start + n / rate
            if scheduled - start >= seconds:
                break
            now = time.monotonic()
            if now >= next_sample:
                rss.append((now - start, _rss(server)))
                next_sample += RSS_SAMPLE_SECONDS
            if scheduled > now:
                await asyncio.sleep(scheduled - now)
            if gate.locked():
                tally.behind += 1
            await gate.acquire()
            task = asyncio.create_task(send(scheduled))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        if pending:
            await asyncio.wait(pending)
        rss.append((time.monotonic() - start, _rss(server)))


def _rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            if proc is not process and proc.exe() != process.exe():
                continue  # a job's own process (a shell, sleep), not a server worker
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def _p99(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * 0.99))]


def halves(latencies: list[tuple[float, float]]) -> tuple[float, float]:
    """The p99 of the requests sent in the first half of the run, and in the second."""
    ordered = sorted(latencies)
    middle = len(ordered) // 2
    return _p99([v for _, v in ordered[:middle]]), _p99([v for _, v in ordered[middle:]])


def windows(latencies: list[tuple[float, float]], start: float, width: float) -> list[dict]:
    buckets: dict[int, list[float]] = {}
    for sent, seconds in latencies:
        buckets.setdefault(int((sent - start) // width), []).append(seconds)
    return [
        {
            "window": i,
            "requests": len(v),
            "p50_ms": statistics.median(v) * 1000,
            "p99_ms": _p99(v) * 1000,
        }  # fmt: skip
        for i, v in sorted(buckets.items())
        if len(v) >= 20
    ]


async def account(stack: Stack, executed_ids: list[str]) -> dict[str, int]:
    """Every executed job exactly once: marks, statuses, and no job nobody asked for."""
    from opsjobs.store.core import Store

    store = Store(stack.database_url)
    await store.open()
    deadline = time.monotonic() + SETTLE_SECONDS
    try:
        while True:
            async with store.read() as conn:
                rows = (await conn.exec_driver_sql("SELECT id, status FROM jobs")).fetchall()
            statuses = dict(rows)
            if all(statuses.get(j) not in ("queued", "running") for j in executed_ids):
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
    finally:
        await store.close()
    executed = set(executed_ids)
    return {
        "executed": len(executed_ids),
        "duplicate_ids": len(executed_ids) - len(executed),
        "not_succeeded": sum(statuses.get(j) != "succeeded" for j in executed),
        "not_run_once": sum(
            stack.runs(j, "start") != 1 or stack.runs(j, "end") != 1 for j in executed
        ),
        "unasked_jobs": len(set(statuses) - executed),
    }


def report(args, capacity, rate, tally, rss, wins, accounts, elapsed) -> list[str]:
    """Prints the figures; the criteria that failed."""
    requests = sum(tally.by_kind.values())
    print(
        f"capacity of the mix: {capacity:.0f} req/s; soak rate {rate:.0f} req/s for {elapsed:.0f} s"
    )
    print(f"requests: {requests} ({requests / elapsed:.0f}/s) by kind {tally.by_kind}; "
          f"sent late (in-flight cap): {tally.behind}")  # fmt: skip
    print(f"errors: {sum(tally.errors.values())} {tally.errors or ''}")
    print("window  requests  p50 ms  p99 ms")
    for w in wins:
        print(f"{w['window']:>6}  {w['requests']:>8}  {w['p50_ms']:>6.1f}  {w['p99_ms']:>6.1f}")
    warm = [v for t, v in rss if t >= args.warmup] or [v for _, v in rss]
    base, end = warm[0], rss[-1][1]
    growth = (end - base) / base
    print(f"server RSS after warm-up {base / 2**20:.1f} MiB, at the end {end / 2**20:.1f} MiB "
          f"({growth:+.1%}), peak {max(v for _, v in rss) / 2**20:.1f} MiB")  # fmt: skip
    print(f"jobs: {accounts}")
    failed = []
    if tally.errors:
        failed.append("errors")
    first, second = halves(tally.latencies)
    print(f"p99 over the first half {first * 1000:.1f} ms, over the second {second * 1000:.1f} ms")
    if second > P99_DRIFT * first:
        failed.append(f"p99 drifted: {second * 1000:.1f} ms > {P99_DRIFT} x {first * 1000:.1f} ms")
    if growth >= RSS_GROWTH_LIMIT:
        failed.append(f"RSS grew {growth:.1%}")
    for name in ("duplicate_ids", "not_succeeded", "not_run_once", "unasked_jobs"):
        if accounts[name]:
            failed.append(f"{name}={accounts[name]}")
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    return failed


async def soak(args, stack: Stack) -> int:
    measuring = Tally()
    capacity = (
        args.rate * 2
        if args.rate
        else await measure_capacity(stack, args.capacity_seconds, measuring)
    )
    rate = args.rate or capacity / 2
    print(f"soak: {rate:.0f} req/s for {args.seconds:.0f} s", flush=True)
    tally, rss = Tally(), []
    started = time.monotonic()
    await paced(stack, rate, args.seconds, tally, rss)
    elapsed = time.monotonic() - started
    width = min(60.0, max(10.0, args.seconds / 6))
    wins = windows(tally.latencies, started, width)
    accounts = await account(stack, measuring.executed + tally.executed)
    return 1 if report(args, capacity, rate, tally, rss, wins, accounts, elapsed) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seconds", type=float, default=600, help="length of the soak (600)")
    parser.add_argument("--rate", type=float, help="requests/s (default: half the capacity)")
    parser.add_argument("--capacity-seconds", type=float, default=15, help="capacity run (15)")
    parser.add_argument("--warmup", type=float, default=30, help="RSS baseline after (30 s)")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="opsjobs-soak-"))
    url = args.database_url or f"sqlite:///{root / 'opsjobs.db'}"
    stack = Stack(root, url, {})
    try:
        stack.prepare({"job": 0})
        stack.serve()
        print(f"soak: server on {stack.url}, database {url.split('@')[-1]}, in {root}", flush=True)
        return asyncio.run(soak(args, stack))
    finally:
        stack.close()
        shutil.rmtree(root, ignore_errors=True)  # the database and a mark file per run


if __name__ == "__main__":
    sys.exit(main())
