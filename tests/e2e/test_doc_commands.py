"""The command lines of README.md, docs/deployment.md, docs/cli.md and docs/console.md that
start servers and runners or read a database, run as written: only the executable's path,
the listening address and port, and the database's URL made this machine's."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme

import log_secrets
from helpers.doc_examples import example, shell
from helpers.make_run import OPSJOBS, free_port, make_run, user_env


def as_here(line: str, port: int) -> str:
    """A documented line with this machine's executable and a port of the test's own."""
    line = line.split("  #", 1)[0].strip()
    line = re.sub(r"(\.venv/bin/)?opsjobs ", f"{OPSJOBS} ", line, count=1)
    line = line.replace("--host 0.0.0.0", "--host 127.0.0.1")
    return re.sub(r"--port \d+", f"--port {port}", line)


def run_lines(lines: list[str], cwd: Path, env: dict[str, str]) -> str:
    ran = shell("\n".join(lines), cwd, env)
    return ran.stdout + ran.stderr


@contextlib.contextmanager
def started(line: str, cwd: Path, env: dict[str, str], ready: str | None) -> Iterator[Path]:
    """A long-running documented line (serve, runner) in its own process group until the
    test is done; with ``ready``, waits until that URL answers 200."""
    log_path = log_secrets.process_log("doc-command")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["bash", "-c", line],
            cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while ready is not None:
                assert process.poll() is None, log_path.read_text(errors="replace")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(ready, verify=False, timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.1)
            yield log_path
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def split(block: str) -> tuple[list[str], str]:
    """A block's lines (comments and blank lines out) and its last one, the serve line."""
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return lines[:-1], lines[-1]


def test_one_machine(tmp_path):
    port = free_port()
    setup, serve = split(example("docs/deployment.md", "one-machine"))
    run_lines([as_here(line, port) for line in setup], tmp_path, user_env())
    assert (tmp_path / "var" / "opsjobs.db").is_file()  # ./var/opsjobs.db by default
    base = f"http://127.0.0.1:{port}"
    with started(as_here(serve, port), tmp_path, user_env(), f"{base}/readyz"):
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


@pytest.fixture
def scratch_pg(backend, database_url) -> str:
    """A migrated PostgreSQL database of the test's own, as the plain URL a reader writes."""
    if backend != "postgresql":
        pytest.skip("the PostgreSQL example runs on PostgreSQL only")
    return database_url.replace("postgresql+asyncpg://", "postgresql://")


def test_on_postgresql_with_a_tagged_runner(scratch_pg, tmp_path):
    port = free_port()
    setup, serve = split(example("README.md", "postgresql"))
    documented = "postgresql://opsjobs@db.example/opsjobs"
    assert setup[0] == f"export OPSJOBS_DATABASE_URL={documented}"
    setup[0] = setup[0].replace(documented, scratch_pg)
    env = user_env()
    run_lines([as_here(line, port) for line in setup], tmp_path, env)
    [runner] = example("README.md", "runner-host").splitlines()
    assert documented in runner
    runner = as_here(runner.replace(documented, scratch_pg), port)
    base = f"http://127.0.0.1:{port}"
    served = {**env, "OPSJOBS_DATABASE_URL": scratch_pg}
    with (
        started(as_here(serve, port), tmp_path, served, f"{base}/readyz"),
        started(runner, tmp_path, env, None) as runner_log,
    ):
        deadline = time.monotonic() + 30
        while "runner started" not in runner_log.read_text(errors="replace"):
            assert time.monotonic() < deadline, runner_log.read_text(errors="replace")
            time.sleep(0.1)
        assert "'dc-east'" in runner_log.read_text()
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"


def test_tls(tmp_path):
    """The certificate and key files the line names, issued here for 127.0.0.1."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "server-key.pem"))
    (tmp_path / "server.pem").write_bytes(b"".join(b.bytes() for b in cert.cert_chain_pems))
    [line] = example("README.md", "tls").splitlines()
    port = free_port()
    run_lines([f"{OPSJOBS} migrate"], tmp_path, user_env())
    base = f"https://127.0.0.1:{port}"
    with started(as_here(line, port), tmp_path, user_env(), f"{base}/healthz"):
        answer = httpx.get(f"{base}/healthz", verify=str(tmp_path / "ca.pem"))
        assert answer.json() == {"status": "ok"}


def test_purge_on_the_demo(tmp_path):
    """docs/cli.md's purge lines on `make run`'s database, the demo's jobs all younger than
    the limits: the dry run counts, the real ones delete nothing young."""
    with make_run(tmp_path) as demo:
        lines = [as_here(line, 0) for line in example("docs/cli.md", "purge").splitlines()]
        dry = run_lines(lines[:1], tmp_path, demo.env)
        assert "dry run" in dry.lower() or "would" in dry.lower(), dry
        run_lines(lines[1:], tmp_path, demo.env)
        url = f"http://127.0.0.1:{demo.port}/node/api/jobs/{demo.job_id}"
        kept = httpx.get(url, auth=("admin", demo.password("admin")))
        assert kept.status_code == 200 and kept.json()["description"]["stdout"], kept.text


def test_the_consoles_content_security_policy(tmp_path):
    shown = " ".join(example("docs/console.md", "content-security-policy").split())
    with make_run(tmp_path) as demo:
        page = httpx.get(f"http://127.0.0.1:{demo.port}/console", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == shown
