"""`opsjobs runner` as a real process, for the tests that run runners beside servers
(tests/e2e/test_distribution.py, tests/e2e/test_many_servers.py, tests/execution/test_lost.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import log_secrets
from helpers import cli_env, opsjobs_exe

HEARTBEAT_SECONDS = 0.2
LOST_AFTER_SECONDS = 1.5


def runner_env(**extra: str) -> dict[str, str]:
    settings = {
        "OPSJOBS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
        "OPSJOBS_LOST_AFTER_SECONDS": str(LOST_AFTER_SECONDS),
        "OPSJOBS_KILL_GRACE_SECONDS": "0.3",
        "OPSJOBS_RUNNER_POLL_SECONDS": "30",
    }
    return cli_env(**{**settings, **extra})


@contextlib.contextmanager
def runner_process(url: str, *args: str, **env: str) -> Iterator[subprocess.Popen]:
    """`opsjobs runner` in its own process group, started and answering; always ended."""
    log = log_secrets.process_log("runner").open("wb")  # searched for secrets at the end
    process = subprocess.Popen(
        [opsjobs_exe(), "runner", "--database-url", url, *args],
        env=runner_env(**env),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = Path(log.name)
    try:
        deadline = time.monotonic() + 30
        while "started" not in process.log_path.read_text():
            assert process.poll() is None, process.log_path.read_text()
            assert time.monotonic() < deadline, "the runner did not start"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def name_of(process: subprocess.Popen) -> str:
    return f"{os.uname().nodename}/{process.pid}"
