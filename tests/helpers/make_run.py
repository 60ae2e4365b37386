"""`make run`'s two commands as a new user runs them, in a fresh directory: `opsjobs demo`,
then `opsjobs serve` until the test is done."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import log_secrets

OPSJOBS = str(Path(sys.executable).parent / "opsjobs")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Demo:
    port: int
    printed: str  # what `opsjobs demo` printed
    cwd: Path
    env: dict[str, str]

    def password(self, login: str) -> str:
        return re.search(rf"{login}\s+password: (\S+)", self.printed).group(1)

    @property
    def job_id(self) -> str:
        return re.search(r"a job:\s+([0-9a-f]{24})", self.printed).group(1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def user_env() -> dict[str, str]:
    """The environment a new user has: no database URL; the installed commands on PATH."""
    env = {k: v for k, v in os.environ.items() if k != "OPSJOBS_DATABASE_URL"}
    env["PATH"] = f"{Path(OPSJOBS).parent}:{env['PATH']}"
    return env


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("opsjobs serve did not start listening")


def make_run_commands(port: int) -> list[list[str]]:
    """What `make run` runs once installed, read from the Makefile itself (`make -n`): the
    demo, then serve, on a port of the test's own."""
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    commands = [shlex.split(line) for line in dry.splitlines() if "bin/opsjobs " in line]
    assert [words[1] for words in commands] == ["demo", "serve"], dry
    return [[OPSJOBS, *words[1:]] for words in commands]


@contextmanager
def make_run(cwd: Path) -> Iterator[Demo]:
    env, port = user_env(), free_port()
    demo_command, serve_command = make_run_commands(port)
    demo = subprocess.run(
        demo_command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    server_log = log_secrets.process_log("serve").open("wb")  # searched for secrets at the end
    server = subprocess.Popen(
        serve_command,
        cwd=cwd, env=env, stdout=server_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_listening(port)
        yield Demo(port, demo.stdout, cwd, env)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        server_log.close()
