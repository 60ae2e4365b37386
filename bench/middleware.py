"""What the request middleware costs the hot paths GET /node/api/jobs/:id and (``--route
execute``) POST /node/api/objects/:id/operations/:id/execute, in process: the app called
directly as ASGI, no HTTP server and no network, so that the middleware's own cost is not
lost in their noise.

    python -m bench.middleware [--requests 20000] [--rounds 5] [--route job|execute]

Three apps on one SQLite file with one job (and, for ``execute``, an operation no runner
takes: each request records one more queued job, as ``wrk`` does in bench.execution): as served (the front door, api/front_door.py,
answers the route ahead of the middleware), the whole app (``OPSJOBS_FRONT_DOOR=false``:
every middleware and the router), and the whole app without the request observer
(api/observe.py: request ID, request series). Rounds alternate between them, and the best
round of each counts (the least disturbed by the rest of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from opsjobs.api.app import create_app
from opsjobs.api.observe import RequestObserver
from opsjobs.config import Settings
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import users
from opsjobs.store.db import Database
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.migrate import upgrade

LOGIN, PASSWORD = "bench", "bench-password-middleware"


NO_RUNNER_OPERATION = {
    "name": "noop",
    "type": 2,
    # No runner carries this tag, and none runs here: executing only records a queued job.
    "parameters": {"type": "fileSystem", "path": "/bin/true", "args": [], "runner": "none"},
}


async def _prepare(url: str) -> tuple[str, str]:
    """The job's ID, and an operation's of the root object."""
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    settings = Settings.from_env(database_url=url, argon2_time_cost=1, argon2_memory_kib=8)
    app = create_app(settings)
    async with LifespanManager(app):
        store = app.state.context.store
        hashed = Passwords(1, 8).hash(PASSWORD)
        await users.create_user(
            store, login=LOGIN, password_hash=hashed, permissions=list(PERMISSIONS), include=["1"]
        )
        job_id = "6b0c3a99109606ffd3a35595"
        row = {
            "id": job_id, "owner_id": "1", "owner_type": 1, "operation_id": None,
            "operation_name": "uptime", "user_id": None, "timestamp": 1_700_000_000_000,
            "process_meta": None, "description": '{"stdout": "ok", "exitCode": 0}',
            "results": "[]", "status": "succeeded", "started": 1, "finished": 2,
            "error": None, "truncated": False, "runner": "bench",
        }  # fmt: skip
        await insert_jobs(store, [row])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            added = await client.post(
                "/node/api/objects/1/operations", json=NO_RUNNER_OPERATION, auth=(LOGIN, PASSWORD)
            )
            added.raise_for_status()
    return job_id, added.json()["id"]


def _app(url: str, observed: bool, door: bool = False):
    settings = Settings.from_env(
        database_url=url, argon2_time_cost=1, argon2_memory_kib=8, front_door=door
    )
    app = create_app(settings)
    if not observed:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
    return app


async def _round(app, path: str, n: int, method: str = "GET") -> float:
    """CPU seconds of this process (all its threads: SQLite's included) per request, over
    ``n`` sequential requests: less swayed than wall time by other work on the machine."""
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode())
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": [(b"host", b"bench"), (b"authorization", b"Basic " + token)],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    if method == "POST":  # as wrk sends it (bench/requests.lua)
        scope["headers"].append((b"content-length", b"0"))
    statuses = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    started = time.process_time()
    for _ in range(n):
        await app(dict(scope), receive, send)
    elapsed = time.process_time() - started
    assert set(statuses) == {200}, set(statuses)
    return elapsed / n


async def main(requests: int, rounds: int, route: str = "job", only: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        job_id, operation_id = await _prepare(url)
        path, method = f"/node/api/jobs/{job_id}", "GET"
        if route == "execute":
            path, method = f"/node/api/objects/1/operations/{operation_id}/execute", "POST"
        apps = {
            "front door": _app(url, True, door=True),
            "whole app": _app(url, True),
            "no observer": _app(url, False),
        }
        if only is not None:
            apps = {only: apps[only]}
        best = {name: float("inf") for name in apps}
        async with contextlib.AsyncExitStack() as running:
            for app in apps.values():
                await running.enter_async_context(LifespanManager(app))
            for app in apps.values():
                await _round(app, path, 200, method)  # warm: credential cache, directory, pools
            for number in range(rounds):
                order = list(apps.items())
                for name, app in order if number % 2 else reversed(order):
                    best[name] = min(best[name], await _round(app, path, requests, method))
    for name, seconds in best.items():
        print(f"{name:>12}: {seconds * 1e6:7.1f} µs of CPU a request")
    if only is not None:
        return
    observer = best["whole app"] - best["no observer"]
    print(f"the request observer costs {observer * 1e6:.1f} µs a request in the whole app")
    saved = best["whole app"] - best["front door"]
    print(f"the front door saves {saved * 1e6:.1f} µs a request ({method} {path})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.middleware", description=__doc__)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--route", choices=("job", "execute"), default="job")
    parser.add_argument(
        "--only",
        choices=("front door", "whole app", "no observer"),
        help="that app alone: on one database, each app's writes empty the others' SQLite "
        "page caches, which an execute's reads then pay for",
    )
    options = parser.parse_args()
    asyncio.run(main(options.requests, options.rounds, options.route, options.only))
