"""Server processes under test: started pinned to one core, waited for, measured, stopped."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

HOST = "127.0.0.1"
APP = "opsjobs.compose:create"
BIN = Path(sys.executable).parent


def stack_commands(port: int) -> dict[str, list[str]]:
    """The command of each stack we compare (``OPSJOBS_DATABASE_URL`` names the database).

    ``opsjobs serve`` is what users run; the others run the same ASGI app under one server
    each, one worker, uvloop, so the comparison is of servers and not of settings.
    """
    return {
        "uvicorn": [
            str(BIN / "python"), "-m", "uvicorn", APP, "--factory",
            "--host", HOST, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--lifespan", "on",
            "--no-access-log", "--log-level", "warning",
        ],
        "granian": [
            str(BIN / "granian"), "--interface", "asgi", "--loop", "uvloop",
            "--workers", "1", "--factory", "--host", HOST, "--port", str(port),
            "--log-level", "warning", APP,
        ],
    }  # fmt: skip


def serve_command(port: int, database_url: str) -> list[str]:
    return [
        str(BIN / "opsjobs"), "serve", "--host", HOST, "--port", str(port),
        "--database-url", database_url,
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """The server and its workers (granian serves from a child process)."""
        root = psutil.Process(self.process.pid)
        return [root, *root.children(recursive=True)]

    def rss(self) -> int:
        total = 0
        for proc in self.processes():
            try:
                total += proc.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def cpu_seconds(self, children: bool = False) -> float:
        """CPU time used so far by the server and its workers (user + system); with
        ``children``, also that of the processes they started and have reaped (jobs)."""
        total = 0.0
        for proc in self.processes():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
            if children:
                total += times.children_user + times.children_system
        return total

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                # Our own process group (start_new_session): the server and its workers.
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def stack(self) -> str:
        """Which HTTP server answers, as its own start-up lines tell."""
        text = self.log_path.read_text(errors="replace").lower()
        found = [name for name in ("granian", "uvicorn", "hypercorn") if name in text]
        return found[0] if found else "unknown"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start(
    name: str,
    argv: list[str],
    port: int,
    database_url: str,
    cpu: int | None,
    logs: Path,
    settings: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Server:
    """Start a server pinned to ``cpu``; ``settings`` are extra OPSJOBS_* variables."""
    logs.mkdir(parents=True, exist_ok=True)
    log_path = logs / f"{name}.log"
    env = dict(
        os.environ,
        OPSJOBS_DATABASE_URL=database_url,
        # Each user logs in once before the load (log_in); with the default lifetime of a
        # cached credential (60 s) its Argon2 re-verification would land in one round of the
        # run and cost that round about 5 x 0.4 s of the server's core. That cost is real but
        # not the hot path's; bench/README.md says what it is.
        OPSJOBS_CREDENTIAL_CACHE_SECONDS=os.environ.get("OPSJOBS_CREDENTIAL_CACHE_SECONDS", "3600"),
        **(settings or {}),
    )
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu), *argv]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    server = Server(name, port, process, log_path)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def log_in(server: Server, passwords: dict[str, str]) -> None:
    """One authenticated request per user, so the load never waits for an Argon2 check."""
    for login, password in passwords.items():
        token = base64.b64encode(f"{login}:{password}".encode()).decode()
        conn = http.client.HTTPConnection(HOST, server.port, timeout=30)
        try:
            conn.request(
                "GET", "/node/api/users/current", headers={"Authorization": f"Basic {token}"}
            )
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{server.name}: {login} could not log in ({response.status})")
        finally:
            conn.close()


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with status {server.process.returncode}:\n"
                + server.log_tail()
            )
        try:
            conn = http.client.HTTPConnection(HOST, server.port, timeout=2)
            conn.request("GET", "/node/api/ping")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s:\n{server.log_tail()}")
