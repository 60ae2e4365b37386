"""Helpers the test modules share: apps with custom settings, job rows, error assertions,
and real `opsjobs` processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson

import log_secrets
from conftest import Api, lifespan
from conftest import settings_for_test as make_settings
from opsjobs.api.app import create_app
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.jobs import insert_jobs

ERROR_KEYS = {"code", "message"}


# -- apps -----------------------------------------------------------------------------------


def documented_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation of the OpenAPI document, for parametrizing at
    collection: the app is only built, never started, so nothing connects to its database."""
    never_opened = Path(tempfile.gettempdir()) / "opsjobs-openapi-listing.db"
    app = create_app(make_settings(f"sqlite:///{never_opened}"))
    return sorted(
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    )


@contextlib.asynccontextmanager
async def app_client(
    database_url: str, *, raise_app_exceptions: bool = True, app_hook=None, **overrides: Any
) -> AsyncIterator[Api]:
    """Like the ``api`` fixture, with settings overrides; ``app_hook(app)`` may add routes."""
    log_secrets.register_database(database_url)
    ctx = Context.create(make_settings(database_url, **overrides))
    app = server_app(context=ctx)
    if app_hook is not None:
        app_hook(app)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", event_hooks=log_secrets.client_hooks()
        ) as client:
            api = Api(client, ctx)
            api.app = app
            yield api


def route_table(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside."""
    try:  # FastAPI >= 0.120 keeps included routers as nodes of the route tree; walk it.
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # older FastAPI: a flat list
        routes = app.routes
    table = set()
    for route in routes:
        for method in route.methods or ():
            if method != "HEAD":
                table.add((method, route.path))
    return table


# -- data -----------------------------------------------------------------------------------


async def add_job(
    store,
    owner_id: str,
    owner_type: int = EntityKind.OBJECT,
    *,
    timestamp: int = 1_594_970_336_122,
    description: dict | None = None,
    status: str = "succeeded",
    operation_id: str | None = None,
    operation_name: str | None = "uptime",
    user_id: str | None = None,
    process_meta: dict | None = None,
    **columns: Any,
) -> str:
    """Insert one finished job row directly; answer its ID."""
    job_id = columns.pop("id", None) or new_id(timestamp / 1000)
    row = {
        "id": job_id,
        "owner_id": owner_id,
        "owner_type": owner_type,
        "operation_id": operation_id,
        "operation_name": operation_name,
        "user_id": user_id,
        "timestamp": timestamp,
        "process_meta": None if process_meta is None else orjson.dumps(process_meta).decode(),
        "description": orjson.dumps(
            description if description is not None else {"stdout": "ok", "exitCode": 0}
        ).decode(),
        "results": "[]",
        "status": status,
        "started": timestamp + 3,
        "finished": timestamp + 60,
        "error": None,
        "truncated": False,
        "runner": "test",
    }
    row.update(columns)
    await insert_jobs(store, [row])
    return job_id


# -- assertions -----------------------------------------------------------------------------


def assert_error(
    response: httpx.Response | Any,
    status: int,
    code: str,
    message: str | None = None,
    *,
    contains: tuple[str, ...] = (),
) -> dict:
    """The response is exactly ``{"code", "message"}`` with this status and code."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        assert body["message"] == message, body
    for part in contains:
        assert part in body["message"], (part, body)
    return body


def auth_message(text: str) -> str:
    """The message of a 401: a JSON document inside the string, as SAYMON sends it."""
    return orjson.dumps({"errorCode": 3, "message": text}).decode()


NOT_LOGGED_IN = auth_message("Not logged in.")
SESSION_EXPIRED = auth_message("Session expired.")
INVALID_TOKEN = auth_message("Invalid API token.")
INVALID_LOGIN = auth_message("Invalid login or password.")


# -- real processes -------------------------------------------------------------------------


def opsjobs_exe() -> str:
    """The installed console script, next to the running interpreter (the venv) first."""
    beside = Path(sys.executable).parent / "opsjobs"
    if beside.exists():
        return str(beside)
    found = shutil.which("opsjobs")
    assert found, "the opsjobs console script is not installed (pip install -e .)"
    return found


def cli_env(**extra: str) -> dict[str, str]:
    """A clean environment for `opsjobs` subprocesses: no inherited OPSJOBS_* settings, the
    venv first on PATH (so `python3` there has requests), and cheap Argon2 hashing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSJOBS_")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def _register_cli_secrets(args: tuple[str, ...] | list[str]) -> None:
    for option, value in zip(args, args[1:], strict=False):
        if option == "--password":
            log_secrets.register(value, "password given to a command")


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120, **kwargs):
    _register_cli_secrets(args)
    result = subprocess.run(
        [opsjobs_exe(), *args],
        capture_output=True,
        text=True,
        env=env or cli_env(),
        timeout=timeout,
        **kwargs,
    )
    log_secrets.check_output(f"opsjobs {args[0] if args else ''}", result.stdout + result.stderr)
    return result


def run_cli_parallel(
    *commands: list[str], env: dict[str, str] | None = None, timeout: float = 120
) -> list[subprocess.CompletedProcess]:
    """Run several `opsjobs` commands at once (each pays the interpreter's start-up)."""
    for args in commands:
        _register_cli_secrets(args)
    processes = [
        subprocess.Popen(
            [opsjobs_exe(), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env or cli_env(),
        )
        for args in commands
    ]
    results = []
    for args, process in zip(commands, processes, strict=True):
        out, err = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(args, process.returncode, out, err))
        log_secrets.check_output(f"opsjobs {args[0] if args else ''}", out + err)
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(
    database_url: str,
    *extra_args: str,
    scheme: str = "http",
    verify: str | bool = False,
    env: dict[str, str] | None = None,
    startup_timeout: float = 30,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`opsjobs serve` on a free port in its own process group; always killed afterwards."""
    port = free_port()
    log_secrets.register_database(database_url)  # its audit rows too
    # The server's output: shown if it fails to start, searched for secrets at the end.
    log_path = log_secrets.process_log("serve")
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            opsjobs_exe(),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--database-url",
            database_url,
            *extra_args,
        ],
        env=env or cli_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_path = log_path
    base = f"{scheme}://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                output = log_path.read_bytes().decode(errors="replace")[-2000:]
                raise AssertionError(f"opsjobs serve exited with {process.returncode}: {output}")
            try:
                if httpx.get(base + "/node/api/ping", verify=verify, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("opsjobs serve did not answer in time")
            time.sleep(0.1)
        yield base, process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


# The job document's keys as docs/api.md §5 spells them: the seed page's, plus `execution` (ext).
JOB_KEYS = {
    "id",
    "description",
    "operation_id",
    "owner_id",
    "owner_type",
    "user_id",
    "process_meta",
    "timestamp",
    "results",
    "execution",
}
SEED_JOB_KEYS = JOB_KEYS - {"execution"}
EXECUTION_KEYS = {"status", "started", "finished", "error", "truncated", "runner"}
