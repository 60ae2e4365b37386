"""Load with wrk: targets (which requests to send), one run, and rounds of runs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from opsjobs.store.core import Store

from .seed import LOAD_LOGINS, Seeded
from .servers import Server

LUA = Path(__file__).with_name("requests.lua")
PING = "/node/api/ping"


def ensure_wrk(log=print) -> str:
    """wrk's path; installed with apt-get when missing and we may, else a clear error."""
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        log("wrk is missing: apt-get install -y wrk")
        install = ["apt-get", "install", "-y", "-q", "wrk"]
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        if subprocess.run(install, **quiet).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], **quiet)
            subprocess.run(install, **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "error: the benchmark needs wrk (https://github.com/wg/wrk), and it could not be "
        "installed here. Install it (Debian/Ubuntu: `sudo apt-get install wrk`, macOS: "
        "`brew install wrk`) and run `make bench` again."
    )


# -- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """A file of requests for requests.lua, and what is in it."""

    path: Path
    requests: int
    distinct_ids: int
    users: int


def _basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def ping_targets(directory: Path) -> Targets:
    path = directory / "ping.tsv"
    path.write_text(f"{PING}\t\n")
    return Targets(path, 1, 0, 0)


def job_targets(seeded: Seeded, directory: Path, count: int = 20_000) -> Targets:
    """GETs of up to `count` distinct jobs drawn at random from the whole table, each asked
    for by one of the non-admin users who may see it (the access check passes: every answer
    must be 200, and the run is refused otherwise)."""
    rng = random.Random(f"targets-{seeded.jobs}")
    conn = sqlite3.connect(f"file:{seeded.path}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT max(rowid) FROM jobs").fetchone()[0]
        rowids = rng.sample(range(1, total + 1), min(total, count * 2))
        rows = []
        for start in range(0, len(rowids), 900):
            chunk = rowids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            rows += conn.execute(
                f"SELECT id, owner_id, owner_type FROM jobs WHERE rowid IN ({marks})", chunk
            ).fetchall()
    finally:
        conn.close()
    rng.shuffle(rows)
    visible = asyncio.run(_who_sees(seeded, rows))
    lines, logins = [], set()
    for (job_id, _owner, _type), who in zip(rows, visible, strict=True):
        if who:
            login = rng.choice(who)
            logins.add(login)
            lines.append(f"/node/api/jobs/{job_id}\t{_basic(login, seeded.passwords[login])}")
        if len(lines) == count:
            break
    path = directory / f"jobs-{seeded.jobs}.tsv"
    path.write_text("\n".join(lines) + "\n")
    return Targets(path, len(lines), len(lines), len(logins))


async def _who_sees(seeded: Seeded, rows: list[tuple]) -> list[list[str]]:
    """For each job row, the load users who may see it, decided by opsjobs' own directory."""
    store = Store(seeded.url)
    await store.open()
    try:
        directory = store.directory
        principals = [directory.principal_by_login(login) for login in LOAD_LOGINS]
        return [
            [p.login for p in principals if directory.can_see_owner(p, owner, owner_type)]
            for _id, owner, owner_type in rows
        ]
    finally:
        await store.close()


# -- running --------------------------------------------------------------------------------


@dataclass
class Run:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    bad_status: int
    # Server CPU time per request: steadier than req/s when other work shares the machine.
    cpu_us: float


def _wrk_argv(
    wrk: str, server: Server, targets: Targets, seconds: int, connections: int, cpu: int | None
) -> list[str]:
    argv = [
        wrk, "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s",
        "-s", str(LUA), server.url, "--", str(targets.path),
    ]  # fmt: skip
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def _parse_run(returncode: int, stdout: str, stderr: str, cpu_used: float) -> Run:
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH ")), None)
    if returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({returncode}):\n{stdout}\n{stderr}")
    figures = json.loads(line[6:])
    elapsed = figures["duration_us"] / 1e6
    errors = sum(figures[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Run(
        requests=figures["requests"],
        seconds=elapsed,
        rps=figures["requests"] / elapsed,
        p50_ms=figures["p50_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        errors=errors,
        bad_status=figures["bad_status"],
        cpu_us=cpu_used / max(1, figures["requests"]) * 1e6,
    )


def run_wrk(
    wrk: str,
    server: Server,
    targets: Targets,
    seconds: int,
    *,
    connections: int = 32,
    cpu: int | None = None,
) -> Run:
    argv = _wrk_argv(wrk, server, targets, seconds, connections, cpu)
    cpu_before = server.cpu_seconds()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu_used = server.cpu_seconds() - cpu_before
    return _parse_run(done.returncode, done.stdout, done.stderr, cpu_used)


class WrkUntilStopped:
    """wrk started now and stopped by :meth:`stop` (SIGINT: wrk ends its run there and
    reports it as usual, with the time it really ran), for a run as long as something else
    takes."""

    LIMIT_SECONDS = 900

    def __init__(
        self, wrk: str, server: Server, targets: Targets, *, connections: int, cpu: int | None
    ) -> None:
        self.server = server
        argv = _wrk_argv(wrk, server, targets, self.LIMIT_SECONDS, connections, cpu)
        self.cpu_before = server.cpu_seconds()
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def stop(self) -> Run:
        self.process.send_signal(signal.SIGINT)
        stdout, stderr = self.process.communicate(timeout=60)
        cpu_used = self.server.cpu_seconds() - self.cpu_before
        return _parse_run(self.process.returncode, stdout, stderr, cpu_used)


@dataclass
class Case:
    """One endpoint on one server, measured over several rounds."""

    label: str
    server: Server
    targets: Targets
    runs: list[Run] = field(default_factory=list)

    def median(self, name: str) -> float:
        return statistics.median(getattr(r, name) for r in self.runs)

    def summary(self) -> dict:
        return {
            "rps": round(self.median("rps"), 1),
            "p50_ms": round(self.median("p50_ms"), 3),
            "p99_ms": round(self.median("p99_ms"), 3),
            "server_cpu_us_per_request": round(self.median("cpu_us"), 1),
            "requests": sum(r.requests for r in self.runs),
            "errors": sum(r.errors for r in self.runs),
            "distinct_ids": self.targets.distinct_ids,
            "users": self.targets.users,
            "rounds": [
                {
                    "rps": round(r.rps, 1),
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                    "server_cpu_us": round(r.cpu_us, 1),
                }
                for r in self.runs
            ],
        }


def measure(
    wrk: str,
    cases: list[Case],
    *,
    seconds: int,
    rounds: int,
    warmup: int,
    connections: int,
    cpu: int | None,
    log=print,
) -> None:
    """Warm every case up, then run them in turn, round after round: cases measured in the
    same round saw the same machine, which is what makes their ratios meaningful."""
    for case in cases:
        run_wrk(wrk, case.server, case.targets, warmup, connections=connections, cpu=cpu)
    for number in range(1, rounds + 1):
        for case in cases:
            run = run_wrk(wrk, case.server, case.targets, seconds, connections=connections, cpu=cpu)
            if run.bad_status:
                raise RuntimeError(
                    f"{case.label}: {run.bad_status} answers were not 2xx: the run is invalid"
                )
            case.runs.append(run)
            log(
                f"  round {number}/{rounds} {case.label:<28} {run.rps:9.0f} req/s  "
                f"p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  "
                f"server CPU {run.cpu_us:5.0f} µs/req"
            )


def ratio(numerator: Case, denominator: Case) -> float:
    """The median over rounds of per-round ratios of req/s."""
    pairs = zip(numerator.runs, denominator.runs, strict=True)
    return statistics.median([a.rps / b.rps for a, b in pairs if b.rps > 0] or [0.0])


def cpu_ratio(numerator: Case, denominator: Case) -> float:
    """The same ratio from server CPU time per request (denominator's over numerator's)."""
    pairs = zip(numerator.runs, denominator.runs, strict=True)
    return statistics.median([b.cpu_us / a.cpu_us for a, b in pairs if a.cpu_us > 0] or [0.0])


def ratio_of_ratios(top: tuple[Case, Case], bottom: tuple[Case, Case]) -> float:
    """Per round, (top[0] / top[1]) / (bottom[0] / bottom[1]) in req/s; the median."""
    rounds = zip(*(case.runs for case in (*top, *bottom)), strict=True)
    values = [a.rps / b.rps / (c.rps / d.rps) for a, b, c, d in rounds if b.rps and c.rps and d.rps]
    return statistics.median(values or [0.0])
