"""Purging under load: the oldest 30 of the 180 days of the 1,000,000-job database, purged
by the server's own purger while wrk loads GET /node/api/jobs/:id, against the same load
without a purge; then a check that the per-owner minimum and every queued or running job
were kept. ``python -m bench.purge`` runs this alone; ``make bench`` runs it last.

The purge works on a copy of the cached database (the copy is deleted afterwards), with 100
queued or running jobs of 170 days added. The load asks only for jobs the purge keeps (a
404 would make a wrk run invalid). See bench/README.md, "Purging under load".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import sys
import time
import urllib.request
from pathlib import Path

from rich.console import Console
from rich.table import Table

from opsjobs.domain.ids import new_id

from . import load, seed, servers

ROOT = Path(__file__).resolve().parent
console = Console(width=None if sys.stdout.isatty() else 120)
PURGE_DAYS = seed.HISTORY_DAYS - 30  # older than this: the oldest 30 days
KEEP = 10
STUCK_JOBS = 100  # queued or running, as old as the oldest purged jobs
_PURGED = re.compile(r'^opsjobs_purged_rows_total\{step="jobs"\} (\S+)$', re.M)
_LAST_RUN = re.compile(r"^opsjobs_purge_last_run_timestamp_seconds (\S+)$", re.M)
RATIO_TARGET, P99_LIMIT = 0.8, 2.0
FIRST_RUN_SECONDS = 30


def log(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}", highlight=False)


def _copy_with_stuck_jobs(seeded: seed.Seeded, directory: Path) -> Path:
    """A copy of the database, with STUCK_JOBS queued or running jobs of 170 days."""
    path = directory / "purge.db"
    for leftover in directory.glob("purge.db*"):
        leftover.unlink()
    shutil.copy(seeded.path, path)
    at = time.time() - 170 * 86400
    # The running ones belong to a runner whose heartbeat is never old: the reaper would
    # otherwise make them lost, and lost jobs are purged like finished ones.
    far = int((time.time() + 10 * 365 * 86400) * 1000)
    with sqlite3.connect(path) as conn:
        owner, operation = conn.execute(
            "SELECT owner_id, operation_id FROM jobs LIMIT 1"
        ).fetchone()
        conn.execute(
            "INSERT INTO runners (name, incarnation, host, pid, started, heartbeat) "
            "VALUES ('bench/1', 'x', 'bench', 1, 0, ?)",
            (far,),
        )
        conn.executemany(
            "INSERT INTO jobs (id, owner_id, owner_type, operation_id, timestamp, status, "
            "runner) VALUES (?, ?, 1, ?, ?, ?, 'bench/1')",
            [(new_id(at + i), owner, operation, int((at + i) * 1000), ("queued", "running")[i % 2])
             for i in range(STUCK_JOBS)],
        )  # fmt: skip
    return path


def _counts(path: Path, cutoff_ms: int) -> dict:
    """What the policy promises, counted: jobs old enough, finished jobs per owner and
    operation, queued or running jobs, and finished jobs that should have gone."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (total,) = conn.execute("SELECT count(*) FROM jobs").fetchone()
        (old,) = conn.execute("SELECT count(*) FROM jobs WHERE timestamp < ?", (cutoff_ms,)).fetchone()  # fmt: skip
        (active,) = conn.execute("SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')").fetchone()  # fmt: skip
        groups = dict(
            ((o, p), n) for o, p, n in conn.execute(
                "SELECT owner_id, operation_id, count(*) FROM jobs "
                "WHERE status NOT IN ('queued', 'running') GROUP BY owner_id, operation_id"
            )
        )  # fmt: skip
        (overdue,) = conn.execute(
            "SELECT count(*) FROM (SELECT timestamp, row_number() OVER (PARTITION BY owner_id, "
            "operation_id ORDER BY timestamp DESC, id DESC) AS n FROM jobs "
            "WHERE status NOT IN ('queued', 'running')) WHERE timestamp < ? AND n > ?",
            (cutoff_ms, KEEP),
        ).fetchone()
    finally:
        conn.close()
    return {"total": total, "old": old, "active": active, "groups": groups, "overdue": overdue}


def _targets(path: Path, seeded: seed.Seeded, directory: Path, cutoff_ms: int) -> load.Targets:
    """GETs of 20,000 jobs the purge keeps (a day younger than the cutoff or more)."""
    copy = seed.Seeded(path, seeded.jobs, seeded.busy_object, seeded.passwords, 0.0)
    rng = random.Random("purge-targets")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT id, owner_id, owner_type FROM jobs WHERE timestamp > ? AND status = 'succeeded' "
            "ORDER BY random() LIMIT 40000",
            (cutoff_ms + 86_400_000,),
        ).fetchall()
    finally:
        conn.close()
    visible = load.asyncio.run(load._who_sees(copy, rows))
    lines = []
    for (job_id, _owner, _type), who in zip(rows, visible, strict=True):
        if who:
            login = rng.choice(who)
            lines.append(f"/node/api/jobs/{job_id}\t{load._basic(login, seeded.passwords[login])}")
    target = directory / "purge-targets.tsv"
    target.write_text("\n".join(lines[:20_000]) + "\n")
    return load.Targets(target, min(20_000, len(lines)), min(20_000, len(lines)), 5)


def _metrics(server: servers.Server) -> str:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as answer:  # noqa: S310
        return answer.read().decode()


def _purge_done(server: servers.Server) -> bool:
    found = _LAST_RUN.search(_metrics(server))
    return found is not None and float(found[1]) > 0


def _serve(name: str, path: Path, cpu: int | None, logs: Path, retention: bool) -> servers.Server:
    settings = {
        "OPSJOBS_RETENTION_DAYS": str(PURGE_DAYS) if retention else "0",
        "OPSJOBS_RETENTION_KEEP_PER_OWNER_OPERATION": str(KEEP),
        # The first run comes one interval after the start: rounds without a purge before.
        "OPSJOBS_PURGE_INTERVAL_SECONDS": str(FIRST_RUN_SECONDS),
        "OPSJOBS_EMBEDDED_RUNNER": "false",
    }
    saved = {k: os.environ.get(k) for k in settings}
    os.environ.update(settings)
    try:
        port = servers.free_port()
        url = f"sqlite:///{path}"
        return servers.start(name, servers.serve_command(port, url), port, url, cpu, logs)
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def _rounds(wrk: str, case: load.Case, seconds: int, cpu: int | None, until=None, most=8) -> None:
    """wrk runs of ``seconds``, until ``until()`` says stop (at least one run) or ``most``."""
    for number in range(1, 200):
        run = load.run_wrk(wrk, case.server, case.targets, seconds, cpu=cpu)
        if run.bad_status or run.errors:
            raise RuntimeError(f"{case.label}: {run.bad_status} non-2xx, {run.errors} errors")
        case.runs.append(run)
        log(f"  {case.label:<22} {run.rps:7.0f} req/s  p99 {run.p99_ms:6.2f} ms  server CPU {run.cpu_us:5.0f} µs/req")  # fmt: skip
        if (until is not None and until()) or (until is None and number >= most):
            return


def _pause(server: servers.Server, stop: bool) -> None:
    """Stop (SIGSTOP) or continue a server and its workers: its own process group."""
    os.killpg(server.process.pid, signal.SIGSTOP if stop else signal.SIGCONT)


def _purged(server: servers.Server) -> float:
    found = _PURGED.search(_metrics(server))
    return float(found[1]) if found else 0.0


def _pairs(wrk, quiet: load.Case, busy: load.Case, seconds: int, cpu, pairs: int) -> list:
    """Rounds in turn, the same minute for both: one on the server without a purge while
    the purging one is stopped, then one on the purging one. A pair counts when the purge
    deleted jobs during the purging server's round. Answers the counted pairs."""
    counted = []
    for _ in range(pairs * 5):
        _pause(busy.server, stop=True)
        try:
            _rounds(wrk, quiet, seconds, cpu, most=1)
        finally:
            _pause(busy.server, stop=False)
        before = _purged(busy.server)
        _rounds(wrk, busy, seconds, cpu, most=1)
        if _purged(busy.server) > before:
            counted.append((quiet.runs[-1], busy.runs[-1]))
        if len(counted) == pairs or _purge_done(busy.server):
            return counted
    return counted


def interleaved(wrk: str, seeded: seed.Seeded, cpus: tuple, work: Path, pairs: int) -> dict:
    """The load comparison alone, round by round against a second server on its own copy
    (no check of what was kept: the purge is stopped after ``pairs`` pairs)."""
    server_cpu, load_cpu = cpus
    logs = work / "logs"
    quiet_path = _copy_with_stuck_jobs(seeded, work)
    busy_path = quiet_path.with_name("purge-busy.db")
    shutil.copy(quiet_path, busy_path)
    cutoff_ms = int((time.time() - PURGE_DAYS * 86400) * 1000)
    targets = _targets(quiet_path, seeded, work, cutoff_ms)
    started: list[servers.Server] = []
    try:
        started.append(_serve("purge-quiet", quiet_path, server_cpu, logs, retention=False))
        started.append(_serve("purge-busy", busy_path, server_cpu, logs, retention=True))
        for server in started:
            servers.log_in(server, seeded.passwords)
        quiet, busy = (load.Case(n, s, targets) for n, s in zip(("no purge", "purging"), started, strict=True))  # fmt: skip
        while _purged(started[1]) == 0:  # its first run starts FIRST_RUN_SECONDS in
            _rounds(wrk, quiet, seconds=2, cpu=load_cpu, most=1)
        quiet.runs.clear()
        counted = _pairs(wrk, quiet, busy, 2, load_cpu, pairs)
    finally:
        for server in started:
            server.stop()
        for leftover in work.glob("purge*.db*"):
            leftover.unlink()
    ratios = [b.rps / a.rps for a, b in counted]
    p99s = [b.p99_ms / a.p99_ms for a, b in counted]
    return {
        "pairs": len(counted),
        "rps_ratio": round(statistics.median(ratios), 3),
        "p99_ratio": round(statistics.median(p99s), 3),
        "without": {
            "rps": round(statistics.median(a.rps for a, _ in counted)),
            "p99_ms": round(statistics.median(a.p99_ms for a, _ in counted), 2),
            "cpu_us": round(statistics.median(a.cpu_us for a, _ in counted)),
        },  # fmt: skip
        "during": {
            "rps": round(statistics.median(b.rps for _, b in counted)),
            "p99_ms": round(statistics.median(b.p99_ms for _, b in counted), 2),
            "cpu_us": round(statistics.median(b.cpu_us for _, b in counted)),
        },  # fmt: skip
        "round_by_round": [(round(a.rps), round(b.rps), a.p99_ms, b.p99_ms) for a, b in counted],
    }


def _bracket(wrk, case: load.Case, seconds: int, cpu) -> tuple[list, list]:
    """Rounds before the purge starts, while it runs, and after it ended (as many as
    before): (rounds without a purge, rounds during it). The server's first purge run comes
    FIRST_RUN_SECONDS after its start."""
    without: list[load.Run] = []
    during: list[load.Run] = []
    after = 0
    for _ in range(1000):
        _rounds(wrk, case, seconds, cpu, most=1)
        text = _metrics(case.server)
        purged = float(m[1]) if (m := _PURGED.search(text)) else 0.0
        done = _purge_done(case.server)
        if done and not hasattr(case, "purge_seconds"):
            found = re.search(r"^opsjobs_purge_last_run_duration_seconds (\S+)$", text, re.M)
            case.purge_seconds = float(found[1]) if found else 0.0
        if not done and ("opsjobs_purge_running 1.0" in text or purged > 0):
            during.append(case.runs[-1])
        elif not done or not during:
            without.append(case.runs[-1])
        else:  # ended in this round: counted with the purge; then as many rounds as before
            if after == 0 and case.runs[-1] not in during:
                during.append(case.runs[-1])
            elif after > 0:
                without.append(case.runs[-1])
            after += 1
            if after > len(without) // 2 + 1:
                return without, during
    raise RuntimeError("the purge did not end")


def _median(runs: list[load.Run], name: str) -> float:
    return statistics.median(getattr(r, name) for r in runs)


def _verify(before: dict, after: dict, purged: float) -> dict:
    short = [g for g, n in before["groups"].items() if after["groups"].get(g, 0) < min(KEEP, n)]
    return {
        "deleted": before["total"] - after["total"],
        "purged_rows_metric": purged,
        "expected_about": before["overdue"],
        "queued_running_kept": after["active"] == before["active"] == STUCK_JOBS,
        "groups_below_minimum": len(short),
        "overdue_left": after["overdue"],
    }


def measure(wrk: str, seeded: seed.Seeded, cpus: tuple, work: Path, seconds: int = 2) -> dict:
    server_cpu, load_cpu = cpus
    logs = work / "logs"
    path = _copy_with_stuck_jobs(seeded, work)
    cutoff_ms = int((time.time() - PURGE_DAYS * 86400) * 1000)
    before = _counts(path, cutoff_ms)
    targets = _targets(path, seeded, work, cutoff_ms)
    log(f"purge: {before['old']:,} of {before['total']:,} jobs older than {PURGE_DAYS} days")
    started: list[servers.Server] = []
    try:
        started.append(_serve("purge", path, server_cpu, logs, retention=True))
        servers.log_in(started[0], seeded.passwords)
        case = load.Case("GET /jobs/:id", started[0], targets)
        base, during = _bracket(wrk, case, seconds, load_cpu)
        text = _metrics(started[0])
        purged = float(_PURGED.search(text)[1])
        duration = getattr(case, "purge_seconds", 0.0)
        started[0].stop()
        after = _counts(path, cutoff_ms)
    finally:
        for server in started:
            server.stop()
        for leftover in work.glob("purge.db*"):
            leftover.unlink()
    return {
        "jobs": before["total"],
        "older_than_days": PURGE_DAYS,
        "purge_seconds": round(duration, 1),
        "without": {
            "rps": round(_median(base, "rps")),
            "p99_ms": round(_median(base, "p99_ms"), 2),
            "cpu_us": round(_median(base, "cpu_us")),
            "rounds": len(base),
        },  # fmt: skip
        "round_by_round": [
            (round(r.rps), r.p99_ms, round(r.cpu_us), r in during) for r in case.runs
        ],  # fmt: skip
        "during": {
            "rps": round(_median(during, "rps")),
            "p99_ms": round(_median(during, "p99_ms"), 2),
            "cpu_us": round(_median(during, "cpu_us")),
            "rounds": len(during),
        },  # fmt: skip
        "rps_ratio": round(_median(during, "rps") / _median(base, "rps"), 3),
        "p99_ratio": round(_median(during, "p99_ms") / _median(base, "p99_ms"), 3),
        "checks": _verify(before, after, purged),
    }


def render(figures: dict) -> Table:
    table = Table(title=f"GET /jobs/:id while {figures['checks']['deleted']:,} of {figures['jobs']:,} jobs are purged ({figures['purge_seconds']} s)")  # fmt: skip
    for column in ("", "req/s", "p99 ms", "server CPU µs/req", "rounds"):
        table.add_column(column, justify="right")
    for name in ("without", "during"):
        f = figures[name]
        table.add_row(name, f"{f['rps']:,}", f"{f['p99_ms']}", f"{f['cpu_us']}", str(f["rounds"]))
    ok = figures["rps_ratio"] >= RATIO_TARGET and figures["p99_ratio"] < P99_LIMIT
    table.add_row("during / without", f"{figures['rps_ratio']}", f"{figures['p99_ratio']}", "", "ok" if ok else "MISSED")  # fmt: skip
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.purge", description=__doc__)
    parser.add_argument("--seconds", type=int, default=2, help="length of one wrk run")
    parser.add_argument("--results", type=Path, default=ROOT / "results", help="output folder")
    parser.add_argument(
        "--pairs",
        type=int,
        default=0,
        help="only the load comparison, in N alternating pairs of rounds against a second "
        "server (no purge, stopped while the other is loaded); no check of what was kept",
    )
    args = parser.parse_args(argv)
    available = sorted(os.sched_getaffinity(0))
    cpus = (available[0], available[1]) if len(available) > 1 else (None, None)
    if cpus[1] is not None:
        os.sched_setaffinity(0, {cpus[1]})
    wrk = load.ensure_wrk(log)
    seeded = seed.ensure(args.results, 1_000_000, log=log)
    work = args.results / "work"
    work.mkdir(parents=True, exist_ok=True)
    if args.pairs:
        figures = interleaved(wrk, seeded, cpus, work, args.pairs)
        (args.results / "purge-pairs.json").write_text(json.dumps(figures, indent=2) + "\n")
        console.print(figures)
        return 0
    figures = measure(wrk, seeded, cpus, work, args.seconds)
    (args.results / "purge.json").write_text(json.dumps(figures, indent=2) + "\n")
    console.print(render(figures))
    console.print(figures["checks"])
    checks = figures["checks"]
    good = checks["queued_running_kept"] and not checks["groups_below_minimum"] and not checks["overdue_left"]  # fmt: skip
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
