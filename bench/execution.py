"""Execution throughput and live-output latency, measured against a bare asyncio loop.

``measure_execution()`` starts ``opsjobs serve`` (SQLite, the one-machine default, default
settings) on a fresh database with an object and two operations, pinned to the server's
core like every other server of the benchmark, and measures in rounds:

- throughput: wrk, on the load core, sends execute requests of a ``fileSystem`` operation
  running ``true`` for a few seconds; jobs/s is the number of jobs those requests made over
  the time from the start of the load to the last job's ``finished`` (all of them must
  succeed, or the run is invalid);
- the bare loop: a fresh Python process on the same core spawns the same ``true`` with an
  asyncio loop, as many at once as the server's runner has slots — what that core can do
  when nothing but spawning happens, measured right before each throughput run;
- ``ratio`` = throughput / bare, the median over rounds (the target is at least 0.5);
- CPU per job: the server's CPU time (its jobs' processes included) per job, and the bare
  loop's per process — the same comparison, steadier when something else takes the core;
- the runner alone: the same ``true`` jobs inserted straight into a fresh database and run
  by a ``Runner`` in a process of their own on the server's core — execution without the
  HTTP route in front of it;
- first output: from an execute request of ``echo hi`` to the first byte of an ``output``
  event on ``GET /jobs/:id/stream``, median and 90th percentile over several runs.

Absolute figures drift on shared machines; the ratios are what to compare between runs.
``python -m bench.execution`` runs this phase alone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from . import load, servers

BIN = Path(sys.executable).parent
LOGIN, PASSWORD = "bench", "bench-secret"
DRAIN_LIMIT_SECONDS = 300


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


def _pinned(argv: list[str], cpu: int | None) -> list[str]:
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


# -- what runs on the server's core on its own ----------------------------------------------


async def _bare(count: int, slots: int) -> float:
    """Processes per second: ``true``, spawned and awaited by a bare asyncio loop."""
    gate = asyncio.Semaphore(slots)

    async def one() -> None:
        async with gate:
            process = await asyncio.create_subprocess_exec("true")
            await process.wait()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return count / (time.perf_counter() - started)


def _cpu_of_self_and_children() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def bare_loop(count: int, slots: int) -> dict[str, float]:
    """The bare loop's rate and CPU time per process (its processes included)."""
    cpu = _cpu_of_self_and_children()
    rate = asyncio.run(_bare(count, slots))
    return {"per_s": rate, "cpu_ms": (_cpu_of_self_and_children() - cpu) / count * 1000}


async def _runner_alone(database_url: str, count: int) -> float:
    """Jobs per second of a Runner with default settings over ``count`` queued ``true`` jobs."""
    from opsjobs.config import Settings
    from opsjobs.domain.clock import now_ms
    from opsjobs.domain.ids import new_id
    from opsjobs.domain.spec import ExecSpec, dump_spec
    from opsjobs.execution.runner import Runner
    from opsjobs.store.core import Store
    from opsjobs.store.jobs import insert_jobs

    store = Store(database_url)
    await store.open()
    try:
        spec = dump_spec(ExecSpec(["true"], 30))
        rows = [
            {"id": new_id(), "owner_id": "1", "owner_type": 1, "timestamp": now_ms(), "spec": spec}
            for _ in range(count)
        ]
        await insert_jobs(store, rows)
        runner = Runner(store, Settings.from_env(database_url=database_url))
        started_ms = now_ms()
        await runner.start()
        path = database_url.removeprefix("sqlite:///")
        while True:  # read from the file apart from the store, as the throughput runs do
            await asyncio.sleep(0.05)
            pending, latest = _runner_progress(path)
            if pending == 0:
                break
        await runner.stop()
        return count / ((latest - started_ms) / 1000)
    finally:
        await store.close()


def runner_alone(database_url: str, count: int) -> dict[str, float]:
    import structlog.testing

    with structlog.testing.capture_logs():  # the runner's own log lines are not results
        return {"per_s": asyncio.run(_runner_alone(database_url, count))}


def _runner_progress(db_path: str) -> tuple[int, int]:
    """(jobs not finished, latest finished ms) of the runner-alone database (only its jobs)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        pending = conn.execute(
            "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued') "
            "+ (SELECT COUNT(*) FROM jobs WHERE status = 'running')"
        ).fetchone()[0]
        latest = conn.execute("SELECT MAX(finished) FROM jobs").fetchone()[0] if not pending else 0
    return int(pending), int(latest or 0)


def _on_core(function: str, args: list[str], cpu: int | None) -> dict[str, float]:
    """Run ``function`` of this module in a fresh Python process on ``cpu``; its figures."""
    argv = _pinned([sys.executable, "-m", "bench.execution", function, *args], cpu)
    done = subprocess.run(
        argv, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- through the server ---------------------------------------------------------------------


def _sqlite_tally(db_path: str):
    """(pending, jobs made since, latest finished, not succeeded) from the SQLite file.
    Polled by the partial indexes on status: a reader that scans the table would hold a
    snapshot long enough to keep the server's checkpoints from finishing."""

    def tally(since_ms: int) -> tuple[int, int, int, int]:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
            (pending,) = conn.execute(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'queued') "
                "+ (SELECT COUNT(*) FROM jobs WHERE status = 'running')"
            ).fetchone()
            if pending:
                return int(pending), 0, 0, 0
            total, latest, bad = conn.execute(
                "SELECT COUNT(*), MAX(finished), SUM(status != 'succeeded') FROM jobs "
                "WHERE timestamp >= ?",
                (since_ms,),
            ).fetchone()
            return 0, int(total), int(latest or 0), int(bad or 0)

    return tally


def _pg_tally(url: str):
    """The same figures from PostgreSQL, through a connection of the benchmark's own."""

    async def query(since_ms: int) -> tuple[int, int, int, int]:
        conn = await asyncpg.connect(url)
        try:
            pending = await conn.fetchval(
                "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
            )
            if pending:
                return int(pending), 0, 0, 0
            total, latest, bad = await conn.fetchrow(
                "SELECT COUNT(*), MAX(finished), COUNT(*) FILTER (WHERE status != 'succeeded') "
                "FROM jobs WHERE timestamp >= $1",
                since_ms,
            )
            return 0, int(total), int(latest or 0), int(bad or 0)
        finally:
            await conn.close()

    return lambda since_ms: asyncio.run(query(since_ms))


def _drained(tally, since_ms: int) -> tuple[int, int]:
    """Wait until no job is queued or running; then (jobs made since ``since_ms``, latest
    finished)."""
    deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
    while True:
        pending, total, latest, bad = tally(since_ms)
        if pending == 0:
            if bad:
                raise RuntimeError(f"{bad} of {total} jobs did not succeed: the run is invalid")
            return total, latest
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pending} jobs did not finish")
        time.sleep(0.1)


def _cpu(processes: list[servers.Server]) -> float:
    """CPU time of the server (and the runner, when it is a process of its own), the jobs'
    processes included."""
    return sum(p.cpu_seconds(children=True) for p in processes)


def _throughput(
    wrk: str, processes: list[servers.Server], targets: load.Targets, tally, seconds: int, **how
) -> dict[str, float]:
    started_ms = time.time_ns() // 1_000_000
    cpu = _cpu(processes)
    run = load.run_wrk(wrk, processes[0], targets, seconds, **how)
    if run.bad_status or run.errors:
        raise RuntimeError(f"execute: {run.bad_status} bad answers, {run.errors} errors")
    jobs, latest = _drained(tally, started_ms)
    cpu = _cpu(processes) - cpu
    return {
        "per_s": jobs / ((latest - started_ms) / 1000),
        "jobs": jobs,
        "cpu_ms": cpu / jobs * 1000,
        "request_p50_ms": run.p50_ms,
        "request_p99_ms": run.p99_ms,
    }


async def _first_output(base: str, setup: dict, runs: int) -> list[float]:
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    path = f"/node/api/objects/{setup['object']}/operations/{setup['echo']}/execute"
    latencies = []
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Basic {token}"}, timeout=60
    ) as client:
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


def _targets(work: Path, setup: dict) -> load.Targets:
    path = work / "execute.tsv"
    auth = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    execute = f"/node/api/objects/{setup['object']}/operations/{setup['true']}/execute"
    path.write_text(f"{execute}\t{auth}\tPOST\n")
    return load.Targets(path, 1, 0, 1)


@contextlib.contextmanager
def _pg_database(admin_url: str, log=print) -> Iterator[str]:
    """A database of the benchmark's own on the PostgreSQL of ``admin_url``, dropped after."""
    name = f"opsjobs_bench_exec_{os.getpid()}"
    base = admin_url.rsplit("/", 1)[0]

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    log(f"  PostgreSQL database {name} created on {base.split('@')[-1]}")
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def _start_runner(url: str, cpu: int | None, logs: Path, env: dict[str, str]) -> servers.Server:
    """``opsjobs runner`` as deployed beside ``opsjobs serve`` on PostgreSQL, pinned to ``cpu``."""
    log_path = logs / "runner-execution.log"
    argv = _pinned([str(BIN / "opsjobs"), "runner", "--database-url", url], cpu)
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    runner = servers.Server("runner-execution", 0, process, log_path)
    deadline = time.monotonic() + 60
    while "started" not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            runner.stop()
            raise RuntimeError(f"opsjobs runner did not start:\n{runner.log_tail()}")
        time.sleep(0.1)
    return runner


def _start_processes(
    url: str, cpu: int | None, logs: Path, env: dict[str, str], own_runner: bool
) -> list[servers.Server]:
    """``opsjobs serve`` (with its embedded runner, or without and ``opsjobs runner``)."""
    port = servers.free_port()
    settings = {"OPSJOBS_EMBEDDED_RUNNER": "false"} if own_runner else None
    name = "serve-execution-pg" if own_runner else "serve-execution"
    server = servers.start(
        name, servers.serve_command(port, url), port, url, cpu, logs, settings=settings
    )
    if not own_runner:
        return [server]
    try:
        return [server, _start_runner(url, cpu, logs, env)]
    except BaseException:
        server.stop()
        raise


@dataclass
class _Backend:
    """One database with its server (and runner) started, ready for rounds."""

    name: str
    url: str
    tally: Callable[[int], tuple[int, int, int, int]]
    setup: dict
    targets: load.Targets
    processes: list[servers.Server]
    measured: list[tuple[dict, dict]] = field(default_factory=list)


def _open_backend(stack, name, pg_admin_url, work: Path, cpu, logs, log) -> _Backend:
    """A fresh database (SQLite file, or a PostgreSQL database of its own), migrated, with
    the user, object and operations; its processes started. All undone by ``stack``."""
    work.mkdir(parents=True, exist_ok=True)
    if pg_admin_url is not None:
        url = stack.enter_context(_pg_database(pg_admin_url, log))
        tally = _pg_tally(url)
    else:
        url = f"sqlite:///{work / 'opsjobs.db'}"
        tally = _sqlite_tally(str(work / "opsjobs.db"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSJOBS_")}
    env.update(OPSJOBS_DATABASE_URL=url, NO_COLOR="1")
    setup = _prepare(env)
    processes = _start_processes(url, cpu, logs, env, own_runner=pg_admin_url is not None)
    for process in reversed(processes):
        stack.callback(process.stop)
    servers.log_in(processes[0], {LOGIN: PASSWORD})
    return _Backend(name, url, tally, setup, _targets(work, setup), processes)


def measure_execution(
    wrk: str,
    server_cpu: int | None,
    load_cpu: int | None,
    logs: Path,
    *,
    pg_url: str | None = None,
    rounds: int = 3,
    seconds: int = 3,
    connections: int = 16,
    runner_jobs: int = 2000,
    log=print,
) -> dict[str, Any]:
    """Throughput from execute to finished vs a bare loop, and time to first SSE output.

    SQLite: a fresh file, ``opsjobs serve`` with its embedded runner, and the runner alone
    after. With ``pg_url`` (a PostgreSQL whose database is only used to make and drop one of
    the benchmark's own), PostgreSQL too, as deployed there: ``opsjobs serve`` without a
    runner and ``opsjobs runner`` beside it, all on the server's core. The two take turns
    in every round, each after a bare loop of its own, so that their ratios are of the same
    moments of the machine; the idle one waits."""
    from opsjobs.config import Settings

    slots = Settings().runner_concurrency  # the default, which the server runs with
    bare_args = ["1000", str(slots)]
    how = {"connections": connections, "cpu": load_cpu}
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opsjobs-bench-exec-")))
        backends = [_open_backend(stack, "sqlite", None, work / "sqlite", server_cpu, logs, log)]
        if pg_url:
            backends.append(
                _open_backend(stack, "postgresql", pg_url, work / "pg", server_cpu, logs, log)
            )
        for backend in backends:  # warm-up
            _throughput(wrk, backend.processes, backend.targets, backend.tally, 1, **how)
        for number in range(1, rounds + 1):
            for backend in backends:
                bare = _on_core("bare_loop", bare_args, server_cpu)
                ours = _throughput(
                    wrk, backend.processes, backend.targets, backend.tally, seconds, **how
                )
                backend.measured.append((bare, ours))
                log(
                    f"  round {number}/{rounds} {backend.name:<10} execute -> finished "
                    f"{ours['per_s']:7.1f} jobs/s ({ours['jobs']} jobs, {ours['cpu_ms']:.2f} ms "
                    f"CPU each)  bare loop {bare['per_s']:7.1f}/s ({bare['cpu_ms']:.2f} ms CPU "
                    f"each)  ratio {ours['per_s'] / bare['per_s']:.3f}"
                )
        latencies = {
            b.name: asyncio.run(_first_output(b.processes[0].url, b.setup, 20)) for b in backends
        }
        stack.close()  # servers stopped, PostgreSQL database dropped, before the runner alone
    with tempfile.TemporaryDirectory(prefix="opsjobs-bench-runner-") as tmp:
        runner_db = f"sqlite:///{Path(tmp) / 'runner-alone.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPSJOBS_")}
        _cli("migrate", "--database-url", runner_db, env=env)
        alone = _on_core("runner_alone", [runner_db, str(runner_jobs)], server_cpu)
    figures = _figures(backends[0].measured, slots, latencies["sqlite"], alone, "sqlite")
    if pg_url:
        pg = backends[1]
        figures["postgresql"] = _figures(pg.measured, slots, latencies["postgresql"], None, pg.name)
        figures["postgresql"].update(_versus(pg.measured, backends[0].measured))
    return figures


def _versus(pg: list, sqlite: list) -> dict[str, float]:
    """PostgreSQL over SQLite, round by round (the same moments of the machine): the ratio
    of their execution ratios, and of their CPU ratios; medians."""
    ratios = [(o["per_s"] / b["per_s"]) / (so["per_s"] / sb["per_s"])
              for (b, o), (sb, so) in zip(pg, sqlite, strict=True)]  # fmt: skip
    cpu = [so["cpu_ms"] / o["cpu_ms"] for (_b, o), (_sb, so) in zip(pg, sqlite, strict=True)]
    return {
        "ratio_vs_sqlite": round(statistics.median(ratios), 3),
        "cpu_ratio_vs_sqlite": round(statistics.median(cpu), 3),
        "rounds_ratio_vs_sqlite": [round(r, 3) for r in ratios],
    }


def _figures(measured, slots, latencies, alone, backend: str) -> dict[str, Any]:
    bare_rate = statistics.median(b["per_s"] for b, _ in measured)
    figures = {
        "database": backend,
        "processes": "opsjobs serve + opsjobs runner" if backend == "postgresql"
        else "opsjobs serve (embedded runner)",
        "jobs_per_round": [o["jobs"] for _, o in measured],
        "runner_slots": slots,
        "opsjobs_jobs_per_s": round(statistics.median(o["per_s"] for _, o in measured), 1),
        "bare_loop_per_s": round(bare_rate, 1),
        "ratio": round(statistics.median(o["per_s"] / b["per_s"] for b, o in measured), 3),
        "opsjobs_cpu_ms_per_job": round(statistics.median(o["cpu_ms"] for _, o in measured), 3),
        "bare_cpu_ms_per_process": round(statistics.median(b["cpu_ms"] for b, _ in measured), 3),
        "cpu_ratio": round(statistics.median(b["cpu_ms"] / o["cpu_ms"] for b, o in measured), 3),
        "execute_p50_ms": round(statistics.median(o["request_p50_ms"] for _, o in measured), 2),
        "execute_p99_ms": round(statistics.median(o["request_p99_ms"] for _, o in measured), 2),
        "first_output_ms_median": round(statistics.median(latencies), 1),
        "first_output_ms_p90": round(statistics.quantiles(latencies, n=10)[-1], 1),
        "rounds": [
            {
                "opsjobs_jobs_per_s": round(o["per_s"], 1),
                "bare_loop_per_s": round(b["per_s"], 1),
                "opsjobs_cpu_ms_per_job": round(o["cpu_ms"], 3),
                "bare_cpu_ms_per_process": round(b["cpu_ms"], 3),
            }
            for b, o in measured
        ],
    }  # fmt: skip
    if alone is not None:
        figures["runner_alone_jobs_per_s"] = round(alone["per_s"], 1)
        figures["runner_alone_ratio"] = round(alone["per_s"] / bare_rate, 3)
    return figures


def _main(argv: list[str]) -> None:
    if argv[:1] == ["bare_loop"]:
        print(json.dumps(bare_loop(int(argv[1]), int(argv[2]))))
    elif argv[:1] == ["runner_alone"]:
        print(json.dumps(runner_alone(argv[1], int(argv[2]))))
    else:  # this phase alone, as `make bench` runs it
        from .__main__ import ROOT, _cpus

        pg_url = argv[argv.index("--pg") + 1] if "--pg" in argv else None
        server_cpu, load_cpu = _cpus()
        logs = ROOT / "results" / "work" / "logs"
        figures = measure_execution(load.ensure_wrk(), server_cpu, load_cpu, logs, pg_url=pg_url)
        for name, value in figures.items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    _main(sys.argv[1:])
