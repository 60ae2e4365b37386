"""Fault drills: real processes, real faults, every job counted from the outside.

Each drill sets up a deployment (see stack.py), submits executions of an operation whose
script leaves a start and an end mark, brings about one fault while they run, lets the
system recover, and counts: jobs accepted, final, lost, run twice, missing (accepted but
never final), lost jobs that ran to the end anyway after the fault (and, apart, those whose
run was over before it, their end not yet stored: the fault took that end with it), and
jobs that ran to the end but were not reported succeeded. Reads during the fault count 200s and 503s; anything else is an
error.

    python -m bench.faults                 # every drill, 40 jobs each
    python -m bench.faults --jobs 100 kill9-sqlite pg-restart

The pytest suite runs the same drills small (tests/faults/).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .stack import (
    Counts,
    Filler,
    PrivatePostgres,
    Stack,
    private_postgres,
    small_disk,
)

# Short liveness settings, so a drill sees a runner declared gone in seconds.
FAST_LIVENESS = {
    "OPSJOBS_HEARTBEAT_SECONDS": "0.5",
    "OPSJOBS_LOST_AFTER_SECONDS": "3",
    "OPSJOBS_RUNNER_POLL_SECONDS": "1",
}
JOB_SECONDS = 1.0
# How long a disk stays full: longer than a run, a runner's retries of a write, and the time
# after which a silent runner's jobs are declared lost.
FULL_SECONDS = 8.0
SETTLE_SECONDS = 120.0


def _submit(
    stack: Stack, client: httpx.Client, operation: str, n: int, counts: Counts
) -> list[str]:
    ids = []
    for _ in range(n):
        try:
            response = client.post(stack.execute_path(operation))
        except httpx.HTTPError as exc:
            counts.bump("errors", f"execute: {exc!r}")
            continue
        if response.status_code == 200:
            ids.append(response.json())
        elif response.status_code == 503:
            counts.bump("refused")
        else:
            counts.bump("errors", f"execute answered {response.status_code}: {response.text[:200]}")
    return ids


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _started(stack: Stack) -> int:
    return len(list(stack.marks.glob("*.start")))


def _finish(
    stack: Stack, client: httpx.Client, ids: list[str], counts: Counts, settle=SETTLE_SECONDS
) -> Counts:
    found = stack.settle(client, ids, settle)
    if any(status != "succeeded" for status in found.values()):
        # Runs orphaned by a fault may still be going: time to leave their end mark.
        time.sleep(JOB_SECONDS * 3 + 1)
        found = stack.statuses(client, ids)
    counts.count_jobs(stack, found)
    return counts


def _sqlite_stack(root: Path, env: dict[str, str] | None = None) -> Stack:
    return Stack(root, f"sqlite:///{root / 'opsjobs.db'}", env or {})


# -- runner kill -9 --------------------------------------------------------------------------


def _runner_killed(
    stack: Stack, client: httpx.Client, counts: Counts, jobs: int, slots: int
) -> list[str]:
    """Start one `opsjobs runner` of ``slots`` slots, submit ``jobs`` executions, and kill -9
    the runner once its slots (or all the jobs) are running; answers the jobs' IDs."""
    runner = stack.runner(OPSJOBS_RUNNER_CONCURRENCY=str(slots))
    ids = _submit(stack, client, "job", jobs, counts)
    _wait_for(lambda: _started(stack) >= min(jobs, slots), 60, "the first runs")
    counts.fault_ns = time.time_ns()
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    return ids


def kill9(root: Path, jobs: int, database_url: str | None = None) -> Counts:
    """`opsjobs serve` without a runner, one `opsjobs runner`; kill -9 it while it runs
    jobs, start another, count."""
    counts = Counts("runner kill -9 " + ("(PostgreSQL)" if database_url else "(SQLite)"))
    stack = Stack(root, database_url or f"sqlite:///{root / 'opsjobs.db'}", FAST_LIVENESS)
    try:
        stack.prepare({"job": JOB_SECONDS})
        stack.serve(embedded_runner=False)
        with stack.client() as client:
            ids = _runner_killed(stack, client, counts, jobs, slots=4)
            counts.notes.append(f"killed the runner with {_started(stack)} runs started")
            stack.runner(OPSJOBS_RUNNER_CONCURRENCY="4")
            return _finish(stack, client, ids, counts)
    finally:
        stack.close()


def kill9_alone(root: Path, jobs: int) -> Counts:
    """As kill9 on SQLite, with as many jobs as the runner has slots, and no runner after
    it: `serve` alone must find its jobs lost (within 30 s, ten times the lost limit)."""
    counts = Counts("runner kill -9, no runner left (SQLite)")
    stack = _sqlite_stack(root, FAST_LIVENESS)
    slots = min(jobs, 4)
    try:
        stack.prepare({"job": JOB_SECONDS * 5})  # all still running at the kill
        stack.serve(embedded_runner=False)
        with stack.client() as client:
            ids = _runner_killed(stack, client, counts, slots, slots=slots)
            return _finish(stack, client, ids, counts, settle=30)
    finally:
        stack.close()


# -- PostgreSQL restart ----------------------------------------------------------------------


class Reader(threading.Thread):
    """Reads jobs and lists until stopped, counting the answers."""

    def __init__(self, stack: Stack, counts: Counts, job_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.stack, self.counts, self.job_ids = stack, counts, job_ids
        self.stopping = threading.Event()

    def run(self) -> None:
        paths = [f"/node/api/objects/{self.stack.object_id}/jobs?limit=10", "/node/api/objects"]
        with self.stack.client(timeout=30) as client:
            i = 0
            while not self.stopping.is_set():
                i += 1
                path = (
                    paths[i % 2]
                    if not self.job_ids or i % 3
                    else f"/node/api/jobs/{self.job_ids[-1]}"
                )
                try:
                    status = client.get(path).status_code
                except httpx.HTTPError as exc:
                    self.counts.bump("errors", f"read {path}: {exc!r}")
                else:
                    if status == 200:
                        self.counts.bump("reads_ok")
                    elif status == 503:
                        self.counts.bump("reads_503")
                    else:
                        self.counts.bump("errors", f"read {path} answered {status}")
                time.sleep(0.01)


def pg_restart(root: Path, jobs: int) -> Counts:
    """`opsjobs serve` with its runner on a private PostgreSQL, restarted (fast) while
    reads go on and executions are submitted and run."""
    counts = Counts("PostgreSQL restart during reads and executions")
    with private_postgres(root / "pgdata") as pg:
        stack = Stack(root / "stack", pg.url, FAST_LIVENESS)
        try:
            stack.prepare({"job": JOB_SECONDS})
            stack.serve()
            with stack.client() as client:
                ids = _submit(stack, client, "job", jobs // 2, counts)
                reader = Reader(stack, counts, ids)
                reader.start()
                time.sleep(0.5)
                pg.restart()
                counts.notes.append("PostgreSQL restarted (pg_ctl restart -m fast)")
                ids += _submit(stack, client, "job", jobs - jobs // 2, counts)
                time.sleep(1)
                reader.stopping.set()
                reader.join()
                return _finish(stack, client, ids, counts)
        finally:
            stack.close()


# -- disk full -------------------------------------------------------------------------------


class Submitter(threading.Thread):
    """Submits executions in the background: while a fault lasts, an answer may be slow,
    and the drill must end the fault on time all the same."""

    def __init__(self, stack: Stack, counts: Counts, n: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.counts, self.n = stack, counts, n
        self.ids: list[str] = []

    def run(self) -> None:
        with self.stack.client(timeout=120) as client:
            self.ids = _submit(self.stack, client, "job", self.n, self.counts)


def _disk_full(stack: Stack, filler: Filler, jobs: int, counts: Counts) -> Counts:
    """Submit, fill the disk while the runs go on, submit and read more while it is full,
    free it after a fixed time."""
    with stack.client() as client:
        ids = _submit(stack, client, "job", jobs // 2, counts)
        _wait_for(lambda: _started(stack) >= 1, 60, "the first runs")
        counts.notes.append(f"filled {filler.fill() // 1024} KiB")
        reader = Reader(stack, counts, ids)
        submitter = Submitter(stack, counts, jobs - jobs // 2)
        reader.start()
        submitter.start()
        time.sleep(FULL_SECONDS)  # runs end, and try to record it, while it is still full
        filler.free()
        counts.notes.append("freed the disk")
        submitter.join()
        time.sleep(1)
        reader.stopping.set()
        reader.join()
        return _finish(stack, client, ids + submitter.ids, counts)


def _serve_and_fill(stack: Stack, disk: Path, jobs: int, counts: Counts) -> Counts:
    """Serve ``stack`` and run the disk-full drill on ``disk``; the stack is closed after."""
    try:
        stack.prepare({"job": JOB_SECONDS})
        stack.serve()
        return _disk_full(stack, Filler(disk), jobs, counts)
    finally:
        stack.close()


def disk_full_sqlite(root: Path, jobs: int) -> Counts:
    counts = Counts("disk full under the database (SQLite)")
    with small_disk(root / "db", 32) as disk:
        stack = Stack(root / "stack", f"sqlite:///{disk / 'opsjobs.db'}", FAST_LIVENESS)
        return _serve_and_fill(stack, disk, jobs, counts)


def disk_full_workdir(root: Path, jobs: int) -> Counts:
    counts = Counts("disk full under the work directory")
    with small_disk(root / "work", 4) as disk:
        env = {**FAST_LIVENESS, "OPSJOBS_WORK_DIR": str(disk)}
        return _serve_and_fill(_sqlite_stack(root / "stack", env), disk, jobs, counts)


def disk_full_postgres(root: Path, jobs: int) -> Counts:
    counts = Counts("disk full under the database (PostgreSQL)")
    with small_disk(root / "pgdisk", 160) as disk:
        pg = PrivatePostgres(disk / "data")
        pg.init()
        pg.start()
        stack = Stack(root / "stack", pg.url, FAST_LIVENESS)
        try:
            result = _serve_and_fill(stack, disk, jobs, counts)
            if not pg.running():
                result.notes.append("PostgreSQL did not come back on its own")
            return result
        finally:
            pg.stop()


# -- SIGTERM of the server -------------------------------------------------------------------


def sigterm(root: Path, jobs: int) -> Counts:
    """SIGTERM to `opsjobs serve` (embedded runner) while short and long jobs run; then
    serve again and let everything end."""
    counts = Counts("SIGTERM of the server during executions")
    env = {**FAST_LIVENESS, "OPSJOBS_STOP_GRACE_SECONDS": "2"}
    stack = _sqlite_stack(root, env)
    try:
        # Long runs end well within the default timeout (60 s) if they are run to the end.
        stack.prepare({"job": JOB_SECONDS, "long": 30})
        stack.serve()
        with stack.client() as client:
            # The long ones first: they are running when SIGTERM comes, and outlast the grace.
            ids = _submit(stack, client, "long", max(1, jobs // 4), counts)
            ids += _submit(stack, client, "job", jobs - max(1, jobs // 4), counts)
            _wait_for(lambda: _started(stack) >= 2, 60, "the first runs")
            status = stack.stop_server()
            counts.notes.append(f"server exit status after SIGTERM: {status}")
            with contextlib.closing(sqlite3.connect(root / "opsjobs.db")) as db:
                stopped = dict(db.execute("SELECT status, count(*) FROM jobs GROUP BY status"))
            counts.left_running = stopped.get("running", 0)
            counts.notes.append(f"once stopped: {json.dumps(stopped)}")
            stack.serve()
            return _finish(stack, client, ids, counts)
    finally:
        stack.close()


DRILLS: dict[str, Callable[[Path, int], Counts]] = {
    "kill9-sqlite": kill9,
    "kill9-postgresql": lambda root, jobs: _with_private_pg(root, jobs, kill9),
    "kill9-alone": kill9_alone,
    "pg-restart": pg_restart,
    "disk-full-sqlite": disk_full_sqlite,
    "disk-full-workdir": disk_full_workdir,
    "disk-full-postgresql": disk_full_postgres,
    "sigterm": sigterm,
}


def _with_private_pg(root: Path, jobs: int, drill) -> Counts:
    with private_postgres(root / "pgdata") as pg:
        return drill(root / "stack", jobs, pg.url)


COLUMNS = ("accepted", "refused", "final", "lost", "twice", "missing", "lost_but_ran",
           "ended_before_fault", "completed_not_succeeded", "left_running", "errors",
           "reads_ok", "reads_503")  # fmt: skip


def promise_broken(counts: Counts) -> list[str]:
    """What the drill must show: every accepted job final, none run twice, no lost job ran
    to the end, every job whose script completed reported succeeded, no errors."""
    broken = []
    for name in (
        "missing",
        "twice",
        "lost_but_ran",
        "completed_not_succeeded",
        "left_running",
        "errors",
    ):
        if getattr(counts, name):
            broken.append(f"{name}={getattr(counts, name)}")
    return broken


def print_table(results: list[Counts]) -> None:
    header = ["drill", *COLUMNS]
    rows = [[r.drill, *(str(getattr(r, c)) for c in COLUMNS)] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    for r in results:
        broken = promise_broken(r)
        print(f"- {r.drill}: {'OK' if not broken else 'BROKEN ' + ', '.join(broken)}; "
              f"statuses {dict(r.statuses)}; " + "; ".join(r.notes[:6]))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument("drills", nargs="*", help=f"any of {', '.join(DRILLS)} (default: all)")
    parser.add_argument("--jobs", type=int, default=40, help="executions per drill")
    args = parser.parse_args(argv)
    unknown = set(args.drills) - set(DRILLS)
    if unknown:
        parser.error(f"unknown drills: {', '.join(sorted(unknown))}")
    results = []
    for name in args.drills or list(DRILLS):
        root = Path(tempfile.mkdtemp(prefix=f"opsjobs-drill-{name}-"))
        print(f"== {name} ({args.jobs} jobs) in {root}", flush=True)
        started = time.monotonic()
        try:
            results.append(DRILLS[name](root, args.jobs))
            results[-1].notes.append(f"{time.monotonic() - started:.0f} s")
        except Exception as exc:
            failed = Counts(name)
            failed.errors = 1
            failed.notes.append(f"the drill itself failed: {exc!r}")
            results.append(failed)
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(root)
    print_table(results)
    return 1 if any(promise_broken(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
