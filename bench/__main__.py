"""``make bench``: the hot path measured against a constant endpoint, on 1k and 1M jobs.

See bench/README.md for what is measured and how to read it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import asyncpg
from rich.console import Console

from . import bare_route, floor, history, importing, load, nginx, purge, report, seed, servers
from . import console as console_pages
from .batches import measure_batches
from .execution import measure_execution
from .triggers import check as check_triggers
from .triggers import measure_triggers

ROOT = Path(__file__).resolve().parent
# Wide enough for the tables when the output is a log file rather than a terminal.
console = Console(width=None if sys.stdout.isatty() else 120)


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--seconds", type=int, default=2, help="length of one wrk run")
    parser.add_argument("--rounds", type=int, default=8, help="rounds over all cases")
    parser.add_argument("--warmup", type=int, default=2, help="warm-up run per case, seconds")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--no-stacks", action="store_true", help="skip the HTTP server comparison")
    parser.add_argument(
        "--no-execution", action="store_true", help="skip execution throughput and SSE latency"
    )
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("OPSJOBS_BENCH_PG_URL", "postgresql://127.0.0.1:5432/postgres"),
        help="PostgreSQL for the execution step on PostgreSQL: a database of the benchmark's "
        "own is made there and dropped after ('' to skip the step)",
    )
    parser.add_argument("--no-triggers", action="store_true", help="skip the state-trigger burst")
    parser.add_argument(
        "--trigger-rounds", type=int, default=2, help="rounds of the state-trigger burst"
    )
    parser.add_argument(
        "--no-batches", action="store_true", help="skip the batch over 10,000 objects"
    )
    parser.add_argument(
        "--batch-targets", type=int, default=10_000, help="objects in the batch (bench.batches)"
    )
    parser.add_argument(
        "--stacks-only",
        action="store_true",
        help="only the HTTP server comparison (written to stacks.json)",
    )
    parser.add_argument(
        "--no-purge", action="store_true", help="skip purging under load (bench.purge)"
    )
    parser.add_argument(
        "--no-console",
        action="store_true",
        help="skip the web console's pages in Chromium on 1M jobs (bench.console)",
    )
    parser.add_argument(
        "--no-import", action="store_true", help="skip `opsjobs jobs import` of 1,000,000 lines"
    )
    parser.add_argument(
        "--import-jobs", type=int, default=1_000_000, help="lines for the import step"
    )
    parser.add_argument("--reseed", action="store_true", help="rebuild the cached databases")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="output folder")
    return parser.parse_args(argv)


# The CPUs this process may use before _cpus() narrows it to the load core: what a command
# measured unpinned (the import) is given back, rather than inheriting the load core alone.
MACHINE_CPUS = frozenset(os.sched_getaffinity(0))


def _cpus() -> tuple[int | None, int | None]:
    """(server CPU, load CPU): the server on one core, wrk and this process on another."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        log("[yellow]only one CPU: server and load share it, figures are not comparable[/yellow]")
        return None, None
    server_cpu, load_cpu = available[0], available[1]
    os.sched_setaffinity(0, {load_cpu})
    return server_cpu, load_cpu


def _git_commit() -> str | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return None
    return done.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def _wrk_version(wrk: str) -> str:
    done = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).split("\n")[0].strip()


def _execution(pg_url, wrk, server_cpu, load_cpu, logs) -> dict:
    """Execution on SQLite and, in the same rounds, on PostgreSQL (opsjobs serve + opsjobs
    runner) when there is one to use."""
    found: dict = {}
    if pg_url:
        try:
            asyncio.run(_pg_reachable(pg_url))
        except (OSError, asyncpg.PostgresError) as exc:
            log(f"[yellow]execution on PostgreSQL skipped: {pg_url} is not usable ({exc})[/yellow]")
            found["execution_pg_skipped"] = str(exc)
            pg_url = None
    if pg_url:
        log("  and on PostgreSQL (opsjobs serve + opsjobs runner), in the same rounds")
    figures = measure_execution(wrk, server_cpu, load_cpu, logs, pg_url=pg_url, log=log)
    if "postgresql" in figures:
        found["execution_pg"] = figures.pop("postgresql")
    found["execution"] = figures
    return found


async def _pg_reachable(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    await conn.close()


def _nginx_version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (done.stdout + done.stderr).strip().removeprefix("nginx version: ")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    started = time.perf_counter()
    results_dir: Path = args.results
    server_cpu, load_cpu = _cpus()
    wrk = load.ensure_wrk(log)
    nginx_binary = nginx.ensure_binary(log)
    small = seed.ensure(results_dir, 1_000, reseed=args.reseed, log=log)
    big = seed.ensure(results_dir, 1_000_000, reseed=args.reseed, log=log)
    work = results_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    log("choosing request targets")
    ping = load.ping_targets(work)
    small_jobs = load.job_targets(small, work)
    big_jobs = load.job_targets(big, work)
    timing = dict(
        seconds=args.seconds,
        rounds=args.rounds,
        warmup=args.warmup,
        connections=args.connections,
        cpu=load_cpu,
    )
    logs = work / "logs"

    results: dict = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "make bench  (.venv/bin/python -m bench " + " ".join(sys.argv[1:]) + ")",
        "commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "wrk": _wrk_version(wrk),
            "nginx": _nginx_version(nginx_binary),
            "load_average_at_start": list(os.getloadavg()),
            **{pkg: version(pkg) for pkg in ("uvicorn", "granian", "fastapi", "starlette")},
        },
        "settings": {
            "seconds": args.seconds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "connections": args.connections,
            "wrk_threads": 1,
            "server_cpu": server_cpu,
            "load_cpu": load_cpu,
        },
        "databases": {
            "1k": {"jobs": small.jobs, "seed_seconds": round(small.seconds, 1)},
            "1M": {"jobs": big.jobs, "seed_seconds": round(big.seconds, 1)},
        },
    }

    if not args.stacks_only:
        results.update(
            _serve_phase(
                wrk,
                small,
                big,
                ping,
                small_jobs,
                big_jobs,
                server_cpu,
                timing,
                logs,
                nginx_binary,
            )  # fmt: skip
        )

    if args.stacks_only or not args.no_stacks:
        results["stacks"] = _compare_stacks(wrk, big, ping, big_jobs, server_cpu, timing, logs)

    if not (args.stacks_only or args.no_execution):
        log("execution: execute -> finished job against a bare asyncio loop; first SSE byte")
        results.update(_execution(args.pg_url, wrk, server_cpu, load_cpu, logs))

    if not (args.stacks_only or args.no_import):
        log(f"import: opsjobs jobs import of {args.import_jobs:,} lines into a fresh SQLite file")
        results["import"] = importing.measure(
            args.import_jobs, work / "import", cpus=MACHINE_CPUS, log=log
        )

    if not (args.stacks_only or args.no_triggers):
        log("state triggers: bursts of state changes beside GET /jobs/:id (1k database copy)")
        results["triggers"] = measure_triggers(
            wrk, small, server_cpu, load_cpu, work, rounds=args.trigger_rounds,
            connections=args.connections, log=log,
        )  # fmt: skip
    if not (args.stacks_only or args.no_batches):
        log(f"batches: one over {args.batch_targets:,} objects, a person's executes beside it")
        results["batches"] = measure_batches(server_cpu, logs, targets=args.batch_targets, log=log)
    if not (args.stacks_only or args.no_purge):
        log("purge: 30 of 180 days of the 1M database purged under GET /jobs/:id load")
        results["purge"] = purge.measure(wrk, big, (server_cpu, load_cpu), work, args.seconds)
        console.print(purge.render(results["purge"]))
    if not (args.stacks_only or args.no_console) and console_pages.available():
        log("console: its history pages in Chromium on the 1M database (bench.console)")
        results["console"] = console_pages.measure(
            results_dir, rounds=3, logins=list(console_pages.LOGINS), log=log
        )

    results["seconds"] = round(time.perf_counter() - started, 1)
    out = results_dir / ("stacks.json" if args.stacks_only else "latest.json")
    report.write(results, out)
    console.print()
    report.render(results, console)
    log(f"done in {results['seconds']:.0f} s; figures in {out}")
    if "triggers" in results:
        check_triggers(results["triggers"])  # fails the run, after the figures are written
    return 0


def _serve_phase(
    wrk, small, big, ping, small_jobs, big_jobs, server_cpu, timing, logs, nginx_binary
) -> dict:
    """`opsjobs serve` on both databases and nginx beside them: GET ratios, then POST /jobs
    on the 1M one."""
    log("opsjobs serve on the 1k and the 1M database, and nginx, measured in alternation")
    started_servers: list[servers.Server] = []
    nginx_dir = Path(tempfile.mkdtemp(prefix="opsjobs-bench-nginx-"))
    try:
        for label, seeded in (("1k", small), ("1M", big)):
            port = servers.free_port()
            argv = servers.serve_command(port, seeded.url)
            started_servers.append(
                servers.start(f"serve-{label}", argv, port, seeded.url, server_cpu, logs)
            )
        s_small, s_big = started_servers
        servers.log_in(s_small, small.passwords)
        servers.log_in(s_big, big.passwords)
        # nginx serves the real body of the first measured job, to the same five users.
        body = nginx.fetch_body(s_big, *nginx.first_target(big_jobs))
        s_nginx = nginx.start(nginx_dir, body, big.passwords, server_cpu, binary=nginx_binary)
        started_servers.append(s_nginx)
        s_floor = floor.start(nginx_dir / "floor", body, server_cpu, logs)
        started_servers.append(s_floor)
        s_bare = bare_route.start(big.path, server_cpu, logs)
        started_servers.append(s_bare)
        work = big_jobs.path.parent
        # In this order, each job run is next to its ping and the two job runs are adjacent;
        # nginx, the floor and the bare route come after, in the same rounds.
        cases = {
            ("1k", "ping"): load.Case("1k  GET /ping", s_small, ping),
            ("1k", "job"): load.Case("1k  GET /jobs/:id", s_small, small_jobs),
            ("1M", "job"): load.Case("1M  GET /jobs/:id", s_big, big_jobs),
            ("1M", "ping"): load.Case("1M  GET /ping", s_big, ping),
            ("nginx", "apr1"): load.Case(
                "nginx file, apr1 auth", s_nginx,
                nginx.retarget(big_jobs, nginx.APR1_PATH, work, "nginx-apr1"),
            ),
            ("nginx", "open"): load.Case(
                "nginx file, no auth", s_nginx,
                nginx.retarget(big_jobs, nginx.OPEN_PATH, work, "nginx-open"),
            ),
            ("floor", "asgi"): load.Case(
                "granian floor, constant", s_floor,
                nginx.retarget(big_jobs, floor.PATH, work, "granian-floor"),
            ),
            ("bare", "job"): load.Case("bare route, 1M", s_bare, big_jobs),
        }  # fmt: skip
        stack = s_big.stack()
        log(f"opsjobs serve runs {stack}; nginx serves a {len(body):,}-byte file")
        load.measure(wrk, list(cases.values()), **timing, log=log)
        log("POST /node/api/jobs for the busiest object (1M database)")
        runs = [history.post_history(s_big, big, "noc-east") for _ in range(2)]
        for run in runs:
            log(
                f"  {run.jobs:,} jobs: first byte {run.first_byte_s * 1000:.0f} ms, "
                f"total {run.total_s * 1000:.0f} ms, peak RSS growth {run.rss_growth_mib:.1f} MiB"
            )
    finally:
        for server in started_servers:
            server.stop()
        shutil.rmtree(nginx_dir, ignore_errors=True)

    results: dict = {"serve_stack": stack}
    results["endpoints"] = {
        db: {name: cases[(db, name)].summary() for name in ("ping", "job")} for db in ("1k", "1M")
    }
    results["endpoints"]["nginx"] = {
        name: cases[("nginx", name)].summary() for name in ("apr1", "open")
    }
    results["endpoints"]["nginx"]["body_bytes"] = len(body)
    results["endpoints"]["floor"] = cases[("floor", "asgi")].summary()
    results["endpoints"]["bare"] = cases[("bare", "job")].summary()
    results["ratios"] = _ratios(cases)
    results["history"] = {
        "login": "noc-east",
        "object": big.busy_object,
        "runs": [run.summary() for run in runs],
    }
    return results


def _ratios(cases: dict) -> dict:
    def r(value: float) -> float:
        return round(value, 3)

    job_1m, apr1 = cases[("1M", "job")], cases[("nginx", "apr1")]
    p99 = [a.p99_ms / b.p99_ms for a, b in zip(job_1m.runs, apr1.runs, strict=True) if b.p99_ms]
    return {
        "job_vs_ping_1k": r(load.ratio(cases[("1k", "job")], cases[("1k", "ping")])),
        "job_vs_ping_1M": r(load.ratio(job_1m, cases[("1M", "ping")])),
        "job_1M_vs_1k": r(load.ratio(job_1m, cases[("1k", "job")])),
        "job_vs_ping_1M_server_cpu": r(load.cpu_ratio(job_1m, cases[("1M", "ping")])),
        "job_1M_vs_1k_normalized": r(
            load.ratio_of_ratios(
                (job_1m, cases[("1M", "ping")]), (cases[("1k", "job")], cases[("1k", "ping")])
            )
        ),
        "job_1M_vs_nginx_apr1": r(load.ratio(job_1m, apr1)),
        # None when nginx's p99 was never above zero: no ratio to judge.
        "job_1M_p99_vs_nginx_apr1_p99": r(statistics.median(p99)) if p99 else None,
        "job_1M_vs_nginx_open": r(load.ratio(job_1m, cases[("nginx", "open")])),
        "job_1M_vs_nginx_apr1_server_cpu": r(load.cpu_ratio(job_1m, apr1)),
        # What the HTTP server costs, apart from what the route does (bench/floor.py).
        "job_1M_vs_granian_floor": r(load.ratio(job_1m, cases[("floor", "asgi")])),
        "granian_floor_vs_nginx_open": r(
            load.ratio(cases[("floor", "asgi")], cases[("nginx", "open")])
        ),
        # What opsjobs's own rules cost the route, and how near a route can come (bare_route.py).
        "job_1M_vs_bare_route": r(load.ratio(job_1m, cases[("bare", "job")])),
        "bare_route_vs_nginx_open": r(load.ratio(cases[("bare", "job")], cases[("nginx", "open")])),
    }


def _compare_stacks(wrk, big, ping, big_jobs, server_cpu, timing, logs) -> dict:
    log("HTTP servers compared on the 1M database, measured in alternation")
    started_servers: list[servers.Server] = []
    commands: dict[str, list[str]] = {}
    try:
        for name in servers.stack_commands(0):
            port = servers.free_port()
            commands[name] = servers.stack_commands(port)[name]
            started_servers.append(
                servers.start(name, commands[name], port, big.url, server_cpu, logs)
            )
            servers.log_in(started_servers[-1], big.passwords)
        cases = {}
        for server in started_servers:
            cases[(server.name, "ping")] = load.Case(f"{server.name} GET /ping", server, ping)
            cases[(server.name, "job")] = load.Case(
                f"{server.name} GET /jobs/:id", server, big_jobs
            )
        load.measure(wrk, list(cases.values()), **timing, log=log)
    finally:
        for server in started_servers:
            server.stop()
    return {
        name: {
            "command": " ".join(commands[name]),
            "ping": cases[(name, "ping")].summary(),
            "job": cases[(name, "job")].summary(),
            "job_vs_ping": round(load.ratio(cases[(name, "job")], cases[(name, "ping")]), 3),
            "job_vs_ping_server_cpu": round(
                load.cpu_ratio(cases[(name, "job")], cases[(name, "ping")]), 3
            ),
        }
        for name in commands
    }


if __name__ == "__main__":
    sys.exit(main())
