"""Execution throughput and live-output latency, measured against a bare asyncio loop.

``measure_execution()`` starts ``opsjobs serve`` (SQLite, the one-machine default) on a
fresh database with an object and two operations, then measures in one run:

- throughput: N execute requests of a ``fileSystem`` operation running ``true``, from the
  first request to the last job finished (the jobs' own ``finished`` times), as jobs/s;
- the same N ``true`` processes spawned by a bare asyncio loop with as many at once as the
  server's runner has slots, as processes/s — the ceiling for this machine right now;
- ``ratio`` = throughput / bare (the target is at least 0.5);
- the runner alone: the same N jobs inserted straight into a fresh database and run by a
  ``Runner`` in this process, as jobs/s and as a ratio to the bare loop — what execution
  costs without the HTTP execute route in front of it;
- first output: from an execute request of ``echo hi`` to the first byte of an ``output``
  event on ``GET /jobs/:id/stream``, median and 90th percentile over several runs.

Absolute figures drift on shared machines; the ratio is what to compare between runs.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import structlog.testing

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOGIN, PASSWORD = "bench", "bench-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "opsjobs"), *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _prepare(env: dict[str, str]) -> dict[str, str]:
    """A migrated database with a user, an object and its two operations."""
    _cli("migrate", env=env)
    _cli(
        "user", "add", LOGIN, "--password", PASSWORD,
        "--permission", "execute-operations", "--include", "1", env=env,
    )  # fmt: skip
    object_id = _cli("object", "add", "bench-host", env=env)
    true_op = _cli(
        "operation", "add", object_id, "--name", "true", "--path", "true", env=env
    ).split()[-1]
    echo_op = _cli(
        "operation", "add", object_id, "--name", "echo", "--script-text", "echo hi", env=env
    ).split()[-1]
    return {"object": object_id, "true": true_op, "echo": echo_op}


class _Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [str(BIN / "opsjobs"), "serve", "--host", HOST, "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.base = f"http://{HOST}:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.base + "/node/api/ping", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("opsjobs serve did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


async def _bare(count: int, slots: int) -> float:
    """Processes per second: the same ``true``, spawned and awaited by a bare loop."""
    gate = asyncio.Semaphore(slots)

    async def one() -> None:
        async with gate:
            process = await asyncio.create_subprocess_exec("true")
            await process.wait()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


def _unfinished(db_path: str, ids: list[str]) -> tuple[int, int]:
    """(jobs not finished yet, latest finished time in ms) read straight from the file."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        marks = ",".join("?" * len(ids))
        pending, latest = conn.execute(
            f"SELECT SUM(status IN ('queued','running')), MAX(finished) FROM jobs "
            f"WHERE id IN ({marks})",
            ids,
        ).fetchone()
    return int(pending or 0), int(latest or 0)


async def _throughput(client: httpx.AsyncClient, setup: dict, db_path: str, count: int) -> float:
    path = f"/node/api/objects/{setup['object']}/operations/{setup['true']}/execute"
    gate = asyncio.Semaphore(16)  # requests in flight, as a busy set of clients would send

    async def execute() -> str:
        async with gate:
            response = await client.post(path)
            response.raise_for_status()
            return response.json()

    started_ms = time.time_ns() // 1_000_000
    ids = await asyncio.gather(*(execute() for _ in range(count)))
    deadline = time.monotonic() + 300
    while True:
        pending, latest = _unfinished(db_path, ids)
        if pending == 0:
            return count / ((latest - started_ms) / 1000)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} jobs did not finish")
        await asyncio.sleep(0.05)


async def _first_output(client: httpx.AsyncClient, setup: dict, runs: int) -> list[float]:
    path = f"/node/api/objects/{setup['object']}/operations/{setup['echo']}/execute"
    latencies = []
    for _ in range(runs):
        started = time.perf_counter()
        job_id = (await client.post(path)).json()
        async with client.stream("GET", f"/node/api/jobs/{job_id}/stream") as response:
            async for text in response.aiter_text():
                if "event: output" in text:
                    latencies.append((time.perf_counter() - started) * 1000)
                    break
        await asyncio.sleep(0.05)
    return latencies


async def _runner_only(database_url: str, count: int, slots: int) -> float:
    """Jobs per second of a Runner in this process over ``count`` queued ``true`` jobs."""
    from sqlalchemy import func, select

    from opsjobs.config import Settings
    from opsjobs.domain.clock import now_ms
    from opsjobs.domain.ids import new_id
    from opsjobs.domain.spec import ExecSpec, dump_spec
    from opsjobs.execution.runner import Runner
    from opsjobs.store.core import Store
    from opsjobs.store.jobs import insert_jobs
    from opsjobs.store.schema import jobs

    store = Store(database_url)
    await store.open()
    try:
        spec = dump_spec(ExecSpec(["true"], 30))
        rows = [
            {"id": new_id(), "owner_id": "1", "owner_type": 1, "timestamp": now_ms(), "spec": spec}
            for _ in range(count)
        ]
        await insert_jobs(store, rows)
        settings = Settings.from_env(database_url=database_url, runner_concurrency=slots)
        runner = Runner(store, settings)
        started = time.perf_counter()
        await runner.start()
        unfinished = select(func.count()).where(jobs.c.status.in_(["queued", "running"]))
        while True:
            async with store.read() as conn:
                if (await conn.execute(unfinished)).scalar_one() == 0:
                    break
            await asyncio.sleep(0.01)
        rate = count / (time.perf_counter() - started)
        await runner.stop()
        return rate
    finally:
        await store.close()


async def _measure(
    server: _Server, setup: dict, db_path: str, runner_db: str, count: int, slots: int
) -> dict:
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    async with httpx.AsyncClient(
        base_url=server.base, headers={"Authorization": f"Basic {token}"}, timeout=60
    ) as client:
        await _throughput(client, setup, db_path, 50)  # warm up: caches, pools, page cache
        bare = await _bare(count, slots)
        opsjobs = await _throughput(client, setup, db_path, count)
        bare_after = await _bare(count, slots)
        latencies = await _first_output(client, setup, 20)
    with structlog.testing.capture_logs():  # the runner's own log lines are not results
        runner_only = await _runner_only(runner_db, count, slots)
    bare_rate = (bare + bare_after) / 2
    return {
        "jobs": count,
        "runner_slots": slots,
        "opsjobs_jobs_per_s": round(opsjobs, 1),
        "bare_loop_per_s": round(bare_rate, 1),
        "ratio": round(opsjobs / bare_rate, 3),
        "runner_only_jobs_per_s": round(runner_only, 1),
        "runner_only_ratio": round(runner_only / bare_rate, 3),
        "first_output_ms_median": round(statistics.median(latencies), 1),
        "first_output_ms_p90": round(statistics.quantiles(latencies, n=10)[-1], 1),
    }


def measure_execution(count: int = 500, slots: int = 8) -> dict[str, Any]:
    """Throughput from execute to finished vs a bare loop, and time to first SSE output."""
    with tempfile.TemporaryDirectory(prefix="opsjobs-bench-exec-") as work:
        db_path = str(Path(work) / "opsjobs.db")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSJOBS_")}
        env.update(
            OPSJOBS_DATABASE_URL=f"sqlite:///{db_path}",
            OPSJOBS_RUNNER_CONCURRENCY=str(slots),
            NO_COLOR="1",
        )
        setup = _prepare(env)
        runner_db = str(Path(work) / "runner-only.db")
        _cli("migrate", "--database-url", f"sqlite:///{runner_db}", env=env)
        server = _Server(env)
        try:
            return asyncio.run(
                _measure(server, setup, db_path, f"sqlite:///{runner_db}", count, slots)
            )
        finally:
            server.stop()


if __name__ == "__main__":
    print(measure_execution())
