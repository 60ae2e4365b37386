"""docs/deployment.md's two-host layout, run as written on this machine: the doc's commands,
with loopback addresses, a scratch PostgreSQL database and ports of their own. Two `serve`
without a runner, one `runner`; what is made through one server is executed through the
other, run by the runner, and read from both."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

import log_secrets
from helpers import cli_env, running_server
from helpers.doc_examples import example
from helpers.runners import name_of, runner_process

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"succeeded", "failed", "timeout", "cancelled", "lost"}

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        not os.environ.get("OPSJOBS_TEST_PG_URL") or not shutil.which("createdb"),
        reason="needs PostgreSQL (OPSJOBS_TEST_PG_URL) and its createdb/dropdb",
    ),
]


def doc_commands(database: str) -> list[str]:
    """The section's command lines, the database host and name made this machine's."""
    block = example("docs/deployment.md", "two-hosts")
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    text = "\n".join(lines)
    for before, after in [
        ("-h db.internal opsjobs", f"-h 127.0.0.1 {database}"),
        ("//db.internal/opsjobs", f"//127.0.0.1/{database}"),
    ]:
        assert before in text, f"the doc's commands no longer say {before!r}"
        text = text.replace(before, after)
    return text.splitlines()


def split_command(line: str) -> tuple[dict[str, str], list[str]]:
    """``A=1 B=2 opsjobs cmd --x y`` as its environment and its words after ``opsjobs cmd``;
    ``--host``/``--port`` left out: the helpers listen on loopback ports of their own."""
    words = shlex.split(line)
    env = {}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "opsjobs", line
    args, rest = [], iter(words[2:])
    for word in rest:
        if word in ("--host", "--port"):
            next(rest)
        else:
            args.append(word)
    return env, args


def run_setup(lines: list[str]) -> tuple[str, str]:
    """The one-time steps, in one shell as one host runs them: the database URL they
    exported and the administrator's printed password."""
    result = subprocess.run(
        ["bash", "-e", "-c", "\n".join(lines)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    printed = re.search(r"password for admin: (\S+)", result.stdout + result.stderr)
    assert printed, result.stdout + result.stderr
    password = printed.group(1)
    log_secrets.register_password("admin", password)
    url = next(line.split("=", 1)[1] for line in lines if line.startswith("export "))
    return url, password


def wait_final(clients: list[httpx.Client], job_id: str) -> list[dict]:
    """The job as each server answers it, once it is final."""
    deadline = time.monotonic() + 60
    while True:
        jobs = [client.get(f"/node/api/jobs/{job_id}") for client in clients]
        assert all(job.status_code == 200 for job in jobs), [job.text for job in jobs]
        documents = [job.json() for job in jobs]
        if all(doc["execution"]["status"] in FINAL for doc in documents):
            return documents
        assert time.monotonic() < deadline, documents
        time.sleep(0.2)


def test_the_documented_two_host_layout_runs_a_job_end_to_end():
    database = f"opsjobs_two_hosts_{uuid.uuid4().hex[:12]}"
    lines = doc_commands(database)
    setup = [line for line in lines if not re.search(r"opsjobs (serve|runner)\b", line)]
    serves = [line for line in lines if "opsjobs serve" in line]
    runners = [line for line in lines if "opsjobs runner" in line]
    assert len(serves) == 1 and len(runners) == 1, lines
    with contextlib.ExitStack() as stack:
        # Dropped last, after every process is gone.
        stack.callback(
            subprocess.run, ["dropdb", "-h", "127.0.0.1", "--force", database], check=False
        )
        url, password = run_setup(setup)
        serve_env, serve_args = split_command(serves[0])
        assert serve_env == {"OPSJOBS_EMBEDDED_RUNNER": "false"}, serve_env
        bases = [  # web1 and web2
            stack.enter_context(running_server(url, *serve_args, env=cli_env(**serve_env)))[0]
            for _ in range(2)
        ]
        _runner_env, runner_args = split_command(runners[0])
        runner = stack.enter_context(runner_process(url, *runner_args))
        web1, web2 = (
            stack.enter_context(httpx.Client(base_url=b, auth=("admin", password), timeout=30))
            for b in bases
        )

        made = web1.post("/node/api/objects", json={"name": "host-a"})
        assert made.status_code == 200, made.text
        object_id = made.json()["id"]
        operation = web1.post(
            f"/node/api/objects/{object_id}/operations",
            json={
                "name": "hello",
                "type": 2,
                "parameters": {"type": "scriptText", "text": "echo hi"},
            },
        )
        assert operation.status_code == 200, operation.text
        executed = web2.post(
            f"/node/api/objects/{object_id}/operations/{operation.json()['id']}/execute"
        )
        assert executed.status_code == 200, executed.text

        from_web1, from_web2 = wait_final([web1, web2], executed.json())
        assert from_web1 == from_web2
        assert from_web1["execution"]["status"] == "succeeded", from_web1
        assert from_web1["execution"]["runner"] == name_of(runner)
        assert from_web1["description"]["stdout"] == "hi\n"
