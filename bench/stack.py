"""A deployment under test for the fault drills and the soak: a database, `opsjobs serve`
and `opsjobs runner` as real processes, an operation whose every run leaves marks, and a
private PostgreSQL instance when one is asked for.

Marks are how runs are counted from the outside: the operation's script appends a line to
``<marks>/<job ID>.start`` when it starts and to ``<marks>/<job ID>.end`` when it is done,
so two lines in a start file is a job run twice, and an end file is a run that completed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .servers import HOST, free_port

BIN = Path(sys.executable).parent
LOGIN, PASSWORD = "drill", "drill-secret"
FINAL = {"succeeded", "failed", "timeout", "cancelled", "lost"}
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)), None)


def mark_script(marks: Path, seconds: float) -> str:
    return (
        "#!/bin/sh\n"
        f'echo start >> "{marks}/$OPSJOBS_JOB_ID.start"\n'
        f"sleep {seconds}\n"
        f'echo end >> "{marks}/$OPSJOBS_JOB_ID.end"\n'
        "echo done\n"
    )


@dataclass
class Stack:
    """One deployment: its database URL, its processes, its marks."""

    root: Path
    database_url: str
    env: dict[str, str]
    marks: Path = field(init=False)
    port: int = field(default_factory=free_port)
    server: subprocess.Popen | None = None
    runners: list[subprocess.Popen] = field(default_factory=list)
    object_id: str = ""
    operations: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.marks = self.root / "marks"
        self.marks.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, **self.env, OPSJOBS_DATABASE_URL=self.database_url)

    # -- set-up -------------------------------------------------------------------------

    def prepare(self, durations: dict[str, float]) -> None:
        """Migrate; a user who may do everything; an object with one marking operation per
        named duration. In this process: a CLI call per step would take seconds each."""
        asyncio.run(self._prepare(durations))

    async def _prepare(self, durations: dict[str, float]) -> None:
        from opsjobs.domain.operations import SCRIPT
        from opsjobs.domain.passwords import Passwords
        from opsjobs.store import entities, operations, users
        from opsjobs.store.core import Store
        from opsjobs.store.db import Database
        from opsjobs.store.migrate import upgrade

        database = Database(self.database_url)
        try:
            await upgrade(database)
        finally:
            await database.dispose()
        store = Store(self.database_url)
        await store.open()
        try:
            await users.create_user(
                store,
                login=LOGIN,
                password_hash=Passwords(1, 8).hash(PASSWORD),  # cheap: verified per request
                permissions=["execute-operations", "modify-objects"],
                include=["1"],
            )
            self.object_id = (
                await entities.create_object(store, name="drill-host", parent_ids=["1"])
            )["id"]
            for name, seconds in durations.items():
                document = {
                    "name": name,
                    "type": SCRIPT,
                    "description": "",
                    "parameters": {"type": "scriptText", "text": mark_script(self.marks, seconds)},
                }
                created = await operations.create_operation(
                    store, "object", self.object_id, document
                )
                self.operations[name] = created["id"]
        finally:
            await store.close()

    # -- processes ----------------------------------------------------------------------

    def _spawn(self, argv: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen:
        log = (self.root / log_name).open("ab")
        with log:
            return subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env={**self.env, **env}, start_new_session=True,
            )  # fmt: skip

    def serve(self, embedded_runner: bool = True, **env: str) -> None:
        env = {"OPSJOBS_EMBEDDED_RUNNER": "1" if embedded_runner else "0", **env}
        argv = [str(BIN / "opsjobs"), "serve", "--host", HOST, "--port", str(self.port)]
        self.server = self._spawn(argv, "serve.log", env)
        self.wait_ready()

    def runner(self, **env: str) -> subprocess.Popen:
        process = self._spawn([str(BIN / "opsjobs"), "runner"], "runner.log", env)
        self.runners.append(process)
        return process

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server is None or self.server.poll() is not None:
                raise RuntimeError(f"the server exited:\n{self.log_tail('serve.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/node/api/ping", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer:\n{self.log_tail('serve.log')}")

    def stop_server(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, as a service manager would; the exit status (None if it had to be
        killed)."""
        if self.server is None:
            return None
        process, self.server = self.server, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                return process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return None
        return process.returncode

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_server(timeout=20)
        for process in self.runners:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def log_tail(self, name: str, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            text = (self.root / name).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    # -- HTTP ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, auth=(LOGIN, PASSWORD), timeout=timeout)

    def execute_path(self, operation: str) -> str:
        return f"/node/api/objects/{self.object_id}/operations/{self.operations[operation]}/execute"

    # -- counting -----------------------------------------------------------------------

    def runs(self, job_id: str, kind: str) -> int:
        try:
            return len((self.marks / f"{job_id}.{kind}").read_text().splitlines())
        except FileNotFoundError:
            return 0

    def mark_time_ns(self, job_id: str, kind: str) -> int | None:
        """When the job's last mark of this kind was written (the file's mtime)."""
        try:
            return (self.marks / f"{job_id}.{kind}").stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def statuses(self, client: httpx.Client, job_ids: list[str]) -> dict[str, str | None]:
        """Each job's status as the API answers it (None: no answer with a status)."""
        found: dict[str, str | None] = {}
        for job_id in job_ids:
            try:
                response = client.get(f"/node/api/jobs/{job_id}")
                found[job_id] = (
                    response.json()["execution"]["status"] if response.is_success else None
                )
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                found[job_id] = None
        return found

    def settle(
        self, client: httpx.Client, job_ids: list[str], timeout: float
    ) -> dict[str, str | None]:
        """Wait until every job is final (or the time is up); their statuses."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.statuses(client, job_ids)
            if all(s in FINAL for s in found.values()) or time.monotonic() > deadline:
                return found
            time.sleep(0.5)


@dataclass
class Counts:
    """What a drill saw, counted from the outside (HTTP answers and marks)."""

    drill: str
    accepted: int = 0  # execute answered a job ID
    refused: int = 0  # execute answered 503: not accepted, the client knows to retry
    errors: int = 0  # any other answer to an execute or a read: 5xx other than 503, or none
    reads_ok: int = 0
    reads_503: int = 0
    final: int = 0
    lost: int = 0
    twice: int = 0  # started more than once
    missing: int = 0  # accepted, but not final when the drill ended
    lost_but_ran: int = 0  # reported lost, yet its script ran to the end after the fault
    # Reported lost, its script over before the fault and its end not yet stored: the fault
    # took the end with it, and lost is the truth. Only where the drill names the fault's
    # moment (fault_ns, time.time_ns() right before it); not a broken promise.
    ended_before_fault: int = 0
    fault_ns: int | None = None
    completed_not_succeeded: int = 0  # its script ran to the end, but not reported succeeded
    left_running: int = 0  # `running` in the database once the server stopped (SIGTERM drill)
    statuses: Counter = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bump(self, name: str, note: str | None = None) -> None:
        """Count one more (from any thread: readers and submitters count at once)."""
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
            if note is not None:
                self.notes.append(note)

    def count_jobs(self, stack: Stack, found: dict[str, str | None]) -> None:
        self.accepted = len(found)
        for job_id, status in found.items():
            self.statuses[status or "none"] += 1
            starts, ends = stack.runs(job_id, "start"), stack.runs(job_id, "end")
            if status in FINAL:
                self.final += 1
            else:
                self.missing += 1
            if status == "lost":
                self.lost += 1
                if ends and self._ended_before_fault(stack, job_id):
                    self.ended_before_fault += 1
                elif ends:
                    self.lost_but_ran += 1
            elif ends and status in FINAL and status != "succeeded":
                self.completed_not_succeeded += 1
            if starts > 1:
                self.twice += 1

    def _ended_before_fault(self, stack: Stack, job_id: str) -> bool:
        # A file's mtime comes from the kernel's coarse clock, up to a tick (a few ms) behind:
        # only an end that a run reached within that tick after the fault could be miscounted.
        ended = stack.mark_time_ns(job_id, "end")
        return self.fault_ns is not None and ended is not None and ended < self.fault_ns

    def as_row(self) -> dict[str, object]:
        hidden = ("statuses", "notes", "_lock", "fault_ns")
        row = {k: v for k, v in self.__dict__.items() if k not in hidden}
        row["statuses"] = dict(self.statuses)
        return row


# -- a private PostgreSQL --------------------------------------------------------------------


def _as_postgres(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:2])}: {(done.stdout + done.stderr)[-1500:]}")
    return done


def postgres_unavailable() -> str | None:
    """Why a private PostgreSQL cannot be run here, or None."""
    if PG_BIN is None:
        return "no PostgreSQL server binaries under /usr/lib/postgresql"
    if os.geteuid() != 0:
        return "a private PostgreSQL is started as the postgres user, which needs root"
    if shutil.which("runuser") is None:
        return "runuser is missing"
    return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL instance of our own, which a drill may restart or starve of disk."""

    data: Path
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def init(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        for parent in self.data.parents:  # the postgres user must reach its data directory
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        shutil.chown(self.data, "postgres", "postgres")
        self.data.chmod(0o700)
        _as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                     "postgres", "--no-sync", "-E", "UTF8")  # fmt: skip

    def ctl(self, action: str, *extra: str, check: bool = True) -> subprocess.CompletedProcess:
        options = (
            f"-p {self.port} -c listen_addresses={HOST} -k {self.data} -c fsync=off "
            "-c max_connections=200"
        )
        return _as_postgres(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.data / "server.log"),
            "-o", options, "-w", "-t", "60", action, *extra, check=check,
        )  # fmt: skip

    def start(self) -> None:
        self.ctl("start")

    def restart(self) -> None:
        self.ctl("restart", "-m", "fast")

    def running(self) -> bool:
        return self.ctl("status", check=False).returncode == 0

    def stop(self) -> None:
        self.ctl("stop", "-m", "immediate", check=False)


@contextlib.contextmanager
def private_postgres(data: Path) -> Iterator[PrivatePostgres]:
    instance = PrivatePostgres(data)
    instance.init()
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()


# -- a small filesystem that can be filled ---------------------------------------------------


def mount_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    probe = Path(tempfile.mkdtemp(prefix="opsjobs-mount-probe-"))
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(probe)], capture_output=True
        )
        if done.returncode != 0:
            return f"mount -t tmpfs failed: {done.stderr.decode(errors='replace').strip()}"
        subprocess.run(["umount", str(probe)], check=True)
        return None
    finally:
        probe.rmdir()


@contextlib.contextmanager
def small_disk(path: Path, megabytes: int) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={megabytes}M", "tmpfs", str(path)], check=True
    )
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


class Filler:
    """Takes every free byte of a filesystem, then gives them back."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "filler"

    def fill(self) -> int:
        written = 0
        block = b"\0" * (256 * 1024)
        with contextlib.suppress(OSError), self.path.open("wb", buffering=0) as out:
            while True:
                written += out.write(block)
        with contextlib.suppress(OSError), self.path.open("ab", buffering=0) as out:
            while True:  # the last partial block
                written += out.write(b"\0" * 512)
        return written

    def free(self) -> None:
        self.path.unlink(missing_ok=True)
