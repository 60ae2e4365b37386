"""What recording the audit log costs an execute request, in process: the app called directly
as ASGI (no HTTP server, no network), POST .../execute one request after another, on SQLite
and without a runner (so only the request's own work is measured).

    python -m bench.audit [--requests 2000] [--rounds 5]

Three apps, rounds alternating between them, the best round of each counting:
``none`` without the audit middleware; ``batched`` as built (rows gathered, written by the
app's task: api/audit.py); ``direct``, each request writing its own row in a transaction of
its own before it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
import time
from pathlib import Path

import orjson
from asgi_lifespan import LifespanManager

from opsjobs.api.app import create_app
from opsjobs.api.audited import AuditTrail
from opsjobs.config import Settings
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.db import Database
from opsjobs.store.migrate import upgrade

LOGIN, PASSWORD = "bench", "bench-password-audit"


class DirectTrail(AuditTrail):
    """Each request's row written before the request ends: one transaction a request."""

    async def __call__(self, scope, receive, send) -> None:
        await super().__call__(scope, receive, send)
        if scope["type"] == "http":
            await scope["app"].state.context.audit.flush()


def _settings(url: str) -> Settings:
    return Settings.from_env(
        database_url=url, argon2_time_cost=1, argon2_memory_kib=8, embedded_runner=False
    )


async def _prepare(url: str) -> str:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    app = create_app(_settings(url))
    async with LifespanManager(app):
        store = app.state.context.store
        await users.create_user(
            store,
            login=LOGIN,
            password_hash=Passwords(1, 8).hash(PASSWORD),
            permissions=list(PERMISSIONS),
            include=["1"],
        )
        box = (await entities.create_object(store, name="box", parent_ids=["1"]))["id"]
        script = {"name": "t", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        operation = await operations.create_operation(store, "object", box, script)
    return f"/node/api/objects/{box}/operations/{operation['id']}/execute"


def _app(url: str, variant: str):
    app = create_app(_settings(url))
    middleware = [m for m in app.user_middleware if m.cls is not AuditTrail]
    if variant == "direct":
        middleware.append(type(app.user_middleware[0])(DirectTrail, routes=lambda: app.routes))
    if variant != "batched":
        app.user_middleware = middleware
    return app


async def _round(app, path: str, requests: int) -> float:
    header = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode())
    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "server": ("test", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"authorization", b"Basic " + header), (b"content-length", b"2")],
    }  # fmt: skip
    statuses = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(dict(scope), receive, send)  # the credential verified once, before the clock
    started = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    took = time.perf_counter() - started
    assert set(statuses) == {200}, statuses[:5]
    return took / requests * 1e6


async def main(requests: int, rounds: int) -> dict[str, float]:
    directory = Path(tempfile.mkdtemp(prefix="opsjobs-bench-audit-"))
    url = f"sqlite:///{directory / 'opsjobs.db'}"
    path = await _prepare(url)
    best: dict[str, float] = {}
    for _ in range(rounds):
        for variant in ("none", "batched", "direct"):
            app = _app(url, variant)
            async with LifespanManager(app):
                micros = await _round(app, path, requests)
            best[variant] = min(best.get(variant, micros), micros)
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    print(orjson.dumps(asyncio.run(main(options.requests, options.rounds))).decode())
