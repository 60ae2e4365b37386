"""State triggers under load: a burst of state changes while ``GET /jobs/:id`` is loaded.

``measure_triggers()`` copies the cached 1k database (seed.py) and gives 1,000 of its hosts
an operation (a script ``true``) and a trigger that runs it on entering state 5 (Alarm), made
through opsjobs' own store. ``opsjobs serve`` runs on that copy pinned to the server's core
with its embedded runner off (``OPSJOBS_EMBEDDED_RUNNER=false``): the jobs stay queued, so
what is measured is the change, its firing and the dispatcher that queues the job, and the
API beside them, not 5,000 processes spawned on the same core. Then, in rounds:

- the burst: 10,000 ``PATCH /node/api/objects/:id {"state_id": N}`` from an asyncio httpx
  client on the load core, a fixed number at a time, taking each object 5, 3, 5, 3 ... (half
  of them, 5,000, enter state 5), while wrk loads ``GET /node/api/jobs/:id`` (the same
  requests as the main benchmark's 1k case) for exactly as long as the burst lasts;
- the drain: until no firing is left, so that every change's job is queued;
- the same wrk run alone, as long as the burst was: the yardstick.

Per round: the job route's req/s during the burst over its req/s alone (the target is at
least 0.8), and for every change into state 5 the time from its ``state_history.timestamp``
to the ``jobs.timestamp`` of the job whose ``process_meta.stateChange.id`` names it (both
taken by the server's clock). Afterwards the account over the whole run: every change into
state 5 has exactly one job, and every job made since the start is one of those; the run is
invalid (``TriggerAccountError``) otherwise.

``python -m bench.triggers`` runs this case alone and writes ``results/triggers.json``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from . import load, seed, servers

STATE = 5  # Alarm: the state the triggers fire on
OTHER_STATE = 3
SETTINGS = {"OPSJOBS_EMBEDDED_RUNNER": "false"}
DRAIN_LIMIT_SECONDS = 300


class TriggerAccountError(RuntimeError):
    """Some change into the trigger's state has no job, or more than one, or a job exists
    that no such change started: the run proves nothing about speed."""


# -- the database ---------------------------------------------------------------------------


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of the cached database (SQLite's backup), to be changed freely."""
    for leftover in target.parent.glob(target.name + "*"):
        leftover.unlink()
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(target) as dst:
        src.backup(dst)


async def _arm(url: str, objects: int) -> list[str]:
    """``objects`` hosts, each given an operation running ``true`` and a trigger that runs
    it on entering STATE; their IDs."""
    from opsjobs.domain.kinds import EntityKind
    from opsjobs.store import operations
    from opsjobs.store.core import Store
    from opsjobs.store.triggers import put_triggers

    store = Store(url)
    await store.open()
    try:
        async with store.read() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT id FROM objects WHERE name LIKE 'host-%' ORDER BY name LIMIT ?", (objects,)
            )
            hosts = [row.id for row in rows]
        document = {
            "name": "on-alarm",
            "type": 2,
            "parameters": {"type": "scriptText", "text": "true"},
        }
        for host in hosts:
            op = await operations.create_operation(store, "object", host, document)
            trigger = {"states": [STATE], "type": "operation", "payload": {"operation": op["id"]}}
            await put_triggers(store, EntityKind.OBJECT, host, [trigger])
    finally:
        await store.close()
    if len(hosts) < objects:
        raise RuntimeError(f"the seeded database has {len(hosts)} hosts, not {objects}")
    return hosts


def _read(db_path: Path, sql: str, args: tuple = ()) -> list[tuple]:
    """A short read of the server's database (never a long snapshot: it would hold back
    the server's checkpoints)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def _wait_drained(db_path: Path) -> float:
    """Wait until no firing is left; when that was seen (perf_counter)."""
    deadline = time.monotonic() + DRAIN_LIMIT_SECONDS
    while _read(db_path, "SELECT COUNT(*) FROM trigger_firings")[0][0]:
        if time.monotonic() > deadline:
            raise TriggerAccountError(f"firings left {DRAIN_LIMIT_SECONDS} s after the burst")
        time.sleep(0.05)
    return time.perf_counter()


# -- the burst ------------------------------------------------------------------------------


@dataclass
class Burst:
    changes: int
    seconds: float
    errors: list[str]
    latencies_ms: list[float]
    started_ms: int  # wall clock, to find the round's changes in state_history
    ended_ms: int

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "changes": self.changes,
            "seconds": round(self.seconds, 2),
            "changes_per_s": round(self.changes / self.seconds, 1),
            "patch_p50_ms": round(_quantile(ordered, 0.5), 2),
            "patch_p99_ms": round(_quantile(ordered, 0.99), 2),
            "errors": len(self.errors),
        }


def plan(hosts: list[str], changes: int) -> list[tuple[str, int]]:
    """``changes`` (object, state) pairs: pass after pass over the objects, STATE on even
    passes and OTHER_STATE on odd ones, so one object's changes are a pass apart."""
    passes = changes // len(hosts)
    return [
        (host, STATE if number % 2 == 0 else OTHER_STATE)
        for number in range(passes)
        for host in hosts
    ]


async def _send(base: str, auth: tuple[str, str], changes: list[tuple[str, int]], at_once: int):
    latencies: list[float] = []
    errors: list[str] = []
    pending = iter(changes)
    limits = httpx.Limits(max_connections=at_once, max_keepalive_connections=at_once)
    async with httpx.AsyncClient(base_url=base, auth=auth, timeout=60, limits=limits) as client:

        async def worker() -> None:
            for host, state in pending:  # one iterator shared: each change is sent once
                started = time.perf_counter()
                try:
                    answer = await client.patch(
                        f"/node/api/objects/{host}", json={"state_id": state}
                    )
                except httpx.HTTPError as exc:
                    errors.append(f"{host} -> {state}: {exc!r}")
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    errors.append(f"{host} -> {state}: {answer.status_code} {answer.text[:200]}")

        await asyncio.gather(*(worker() for _ in range(at_once)))
    return latencies, errors


def burst(base: str, auth: tuple[str, str], changes: list[tuple[str, int]], at_once: int) -> Burst:
    started_ms = time.time_ns() // 1_000_000
    started = time.perf_counter()
    latencies, errors = asyncio.run(_send(base, auth, changes, at_once))
    seconds = time.perf_counter() - started
    return Burst(len(changes), seconds, errors, latencies, started_ms, time.time_ns() // 1_000_000)


# -- what the database says -----------------------------------------------------------------


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _changes_into_state(db_path: Path, hosts: set[str], since: int, until: int | None = None):
    """{state_history ID: timestamp} of the changes of ``hosts`` into STATE in the window."""
    rows = _read(
        db_path,
        "SELECT id, owner_id, timestamp FROM state_history "
        "WHERE timestamp >= ? AND timestamp <= ? AND state_id = ?",
        (since, until if until is not None else 2**62, STATE),
    )
    return {change_id: at for change_id, owner, at in rows if owner in hosts}


def _jobs_since(db_path: Path, since: int) -> list[tuple[str, int, str | None]]:
    """(job ID, timestamp, the state change its process_meta names) of every job since."""
    rows = _read(
        db_path, "SELECT id, timestamp, process_meta FROM jobs WHERE timestamp >= ?", (since,)
    )
    found = []
    for job_id, at, meta in rows:
        change = (orjson.loads(meta) if meta else {}).get("stateChange") or {}
        found.append((job_id, at, change.get("id")))
    return found


def latencies(db_path: Path, hosts: set[str], made: Burst, since: int) -> list[float]:
    """Change -> queued, ms, sorted, for every change into STATE the burst made (its job's
    ``timestamp`` is when the dispatcher made the row, just before the commit)."""
    changes = _changes_into_state(db_path, hosts, made.started_ms, made.ended_ms)
    queued = {change: at for _job, at, change in _jobs_since(db_path, since) if change}
    missing = [c for c in changes if c not in queued]
    if missing:
        raise TriggerAccountError(f"{len(missing)} changes into {STATE} have no job")
    if not changes:
        raise TriggerAccountError(f"the burst made no change into {STATE}")
    return sorted(float(queued[c] - at) for c, at in changes.items())


def account(db_path: Path, hosts: set[str], since: int) -> dict[str, Any]:
    """Every change into STATE since ``since`` has exactly one job; nothing else was made."""
    changes = _changes_into_state(db_path, hosts, since)
    jobs = _jobs_since(db_path, since)
    per_change = Counter(change for _job, _at, change in jobs)
    deliveries = _read(
        db_path,
        "SELECT COUNT(*), COUNT(DISTINCT change_id), SUM(status != 'queued') "
        "FROM trigger_deliveries WHERE fired_at >= ?",
        (since,),
    )[0]
    figures = {
        "changes_into_state": len(changes),
        "jobs": len(jobs),
        "changes_without_job": sum(1 for c in changes if per_change[c] == 0),
        "changes_with_several_jobs": sum(1 for c in changes if per_change[c] > 1),
        "jobs_of_no_such_change": sum(n for c, n in per_change.items() if c not in changes),
        "deliveries": deliveries[0],
        "deliveries_not_queued": deliveries[2] or 0,
        "firings_left": _read(db_path, "SELECT COUNT(*) FROM trigger_firings")[0][0],
    }
    figures["ok"] = (
        figures["changes_into_state"] > 0
        and figures["jobs"] == figures["changes_into_state"] == figures["deliveries"]
        and not any(
            figures[k]
            for k in (
                "changes_without_job",
                "changes_with_several_jobs",
                "jobs_of_no_such_change",
                "deliveries_not_queued",
                "firings_left",
            )
        )
    )
    return figures


# -- the rounds -----------------------------------------------------------------------------


def _run_figures(run: load.Run) -> dict[str, Any]:
    return {
        "rps": round(run.rps, 1),
        "p50_ms": run.p50_ms,
        "p99_ms": run.p99_ms,
        "requests": run.requests,
        "seconds": round(run.seconds, 2),
    }


def _checked(run: load.Run, what: str) -> load.Run:
    if run.bad_status or run.errors:
        raise RuntimeError(f"{what}: {run.bad_status} answers not 2xx, {run.errors} errors")
    return run


@dataclass
class Armed:
    """The server under test and what the rounds need."""

    server: servers.Server
    db_path: Path
    hosts: list[str]
    targets: load.Targets
    admin: tuple[str, str]
    since: int  # wall clock ms before the first change


def _round(wrk: str, armed: Armed, changes: list[tuple[str, int]], at_once: int, how: dict):
    """One burst with the job route under load, the drain, then the job route alone for as
    long as the burst took."""
    server = armed.server
    cpu_before = server.cpu_seconds()
    during = load.WrkUntilStopped(wrk, server, armed.targets, **how)
    made = burst(server.url, armed.admin, changes, at_once)
    run_during = _checked(during.stop(), "GET /jobs/:id during the burst")
    cpu_ms = (server.cpu_seconds() - cpu_before) * 1000
    if made.errors:
        shown = "\n".join(made.errors[:5])
        raise TriggerAccountError(f"{len(made.errors)} state changes failed:\n{shown}")
    _wait_drained(armed.db_path)
    waits = latencies(armed.db_path, set(armed.hosts), made, armed.since)
    alone = load.WrkUntilStopped(wrk, server, armed.targets, **how)
    time.sleep(made.seconds)
    run_alone = _checked(alone.stop(), "GET /jobs/:id alone")
    return {
        "burst": {**made.summary(), "server_cpu_ms_per_change": round(cpu_ms / made.changes, 3)},
        "job_during": _run_figures(run_during),
        "job_alone": _run_figures(run_alone),
        "ratio": round(run_during.rps / run_alone.rps, 3),
        "change_to_queued_ms": {
            "changes": len(waits),
            "median": _quantile(waits, 0.5),
            "p99": _quantile(waits, 0.99),
            "max": waits[-1],
        },
    }


def _arm_and_start(small: seed.Seeded, directory: Path, objects: int, cpu, logs, log) -> Armed:
    db_path = directory / "triggers.db"
    _copy(small.path, db_path)
    url = f"sqlite:///{db_path}"
    started = time.perf_counter()
    hosts = asyncio.run(_arm(url, objects))
    log(f"  {objects:,} objects armed with an operation and a trigger in "
        f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    since = time.time_ns() // 1_000_000
    targets = load.job_targets(small, directory)  # the copy holds the same jobs
    port = servers.free_port()
    argv = servers.serve_command(port, url)
    server = servers.start("serve-triggers", argv, port, url, cpu, logs, settings=SETTINGS)
    admin = (seed.ADMIN, small.passwords[seed.ADMIN])
    return Armed(server, db_path, hosts, targets, admin, since)


def _median(rounds: list[dict], *path: str) -> float:
    values = []
    for figures in rounds:
        for key in path:
            figures = figures[key]
        values.append(figures)
    return round(statistics.median(values), 3)


def _summary(rounds: list[dict], account_figures: dict, settings: dict) -> dict[str, Any]:
    return {
        **settings,
        "job_alone": {k: _median(rounds, "job_alone", k) for k in ("rps", "p50_ms", "p99_ms")},
        "job_during": {k: _median(rounds, "job_during", k) for k in ("rps", "p50_ms", "p99_ms")},
        "ratio": _median(rounds, "ratio"),
        "burst": {
            k: _median(rounds, "burst", k)
            for k in (
                "seconds",
                "changes_per_s",
                "patch_p50_ms",
                "patch_p99_ms",
                "server_cpu_ms_per_change",
            )
        },  # fmt: skip
        "change_to_queued_ms": {
            "median": _median(rounds, "change_to_queued_ms", "median"),
            "p99": _median(rounds, "change_to_queued_ms", "p99"),
            "max": max(r["change_to_queued_ms"]["max"] for r in rounds),
        },
        "account": account_figures,
        "rounds": rounds,
    }


def measure_triggers(
    wrk: str,
    small: seed.Seeded,
    server_cpu: int | None,
    load_cpu: int | None,
    work: Path,
    *,
    rounds: int = 2,
    changes: int = 10_000,
    objects: int = 1_000,
    at_once: int = 16,
    connections: int = 32,
    log=print,
) -> dict[str, Any]:
    """The rounds, and the account of every job; raises TriggerAccountError (after the
    figures are complete) when the account is wrong."""
    directory = work / "triggers"
    directory.mkdir(parents=True, exist_ok=True)
    armed = _arm_and_start(small, directory, objects, server_cpu, work / "logs", log)
    how = {"connections": connections, "cpu": load_cpu}
    measured = []
    try:
        servers.log_in(armed.server, small.passwords)
        _checked(load.run_wrk(wrk, armed.server, armed.targets, 2, **how), "warm-up")
        burst(armed.server.url, armed.admin, plan(armed.hosts[:100], 200), at_once)  # warm-up
        _wait_drained(armed.db_path)
        for number in range(1, rounds + 1):
            measured.append(_round(wrk, armed, plan(armed.hosts, changes), at_once, how))
            _log_round(number, rounds, measured[-1], log)
    finally:
        armed.server.stop()
    settings = {
        "database": f"a copy of the cached 1k database ({small.jobs:,} jobs)",
        "objects": objects,
        "changes_per_round": changes,
        "patch_concurrency": at_once,
        "wrk_connections": connections,
        "embedded_runner": False,
    }
    return _summary(measured, account(armed.db_path, set(armed.hosts), armed.since), settings)


def _log_round(number: int, rounds: int, figures: dict, log) -> None:
    b, wait = figures["burst"], figures["change_to_queued_ms"]
    log(
        f"  round {number}/{rounds} burst {b['changes']:,} changes in {b['seconds']:.1f} s "
        f"({b['changes_per_s']:.0f}/s, PATCH p99 {b['patch_p99_ms']:.0f} ms)  "
        f"GET /jobs/:id {figures['job_during']['rps']:.0f} req/s during, "
        f"{figures['job_alone']['rps']:.0f} alone (ratio {figures['ratio']:.2f}, p99 "
        f"{figures['job_during']['p99_ms']:.1f} / {figures['job_alone']['p99_ms']:.1f} ms)  "
        f"change -> queued p50 {wait['median']:.0f} ms p99 {wait['p99']:.0f} ms"
    )


def check(figures: dict[str, Any]) -> None:
    """Raise unless every expected job is there exactly once."""
    if not figures["account"]["ok"]:
        raise TriggerAccountError(f"trigger jobs do not add up: {figures['account']}")


def main(argv: list[str] | None = None) -> int:
    """This case alone: ``python -m bench.triggers [--rounds N]``."""
    import argparse
    import datetime
    import os

    from rich.console import Console

    from . import report
    from .__main__ import ROOT, _cpus, console, log

    parser = argparse.ArgumentParser(prog="python -m bench.triggers", description=__doc__)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--changes", type=int, default=10_000, help="state changes per burst")
    parser.add_argument("--objects", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16, help="PATCHes at once")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    args = parser.parse_args(argv)
    server_cpu, load_cpu = _cpus()
    wrk = load.ensure_wrk(log)
    results_dir = ROOT / "results"
    small = seed.ensure(results_dir, 1_000, log=log)
    started = time.perf_counter()
    figures = measure_triggers(
        wrk, small, server_cpu, load_cpu, results_dir / "work", rounds=args.rounds,
        changes=args.changes, objects=args.objects, at_once=args.concurrency,
        connections=args.connections, log=log,
    )  # fmt: skip
    results = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.triggers " + " ".join(argv if argv is not None else []),
        "load_average_at_end": list(os.getloadavg()),
        "seconds": round(time.perf_counter() - started, 1),
        "triggers": figures,
    }
    out = results_dir / "triggers.json"
    report.write(results, out)
    report.render(results, console if isinstance(console, Console) else Console())
    log(f"figures in {out}")
    check(figures)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
