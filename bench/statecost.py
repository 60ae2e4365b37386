"""What one state change costs the server, in process: the app called directly as ASGI (no
HTTP server, no network), on SQLite, without a runner or dispatcher, one request after another.

    python -m bench.statecost [--objects 200] [--changes 2000] [--rounds 3] [--profile FILE]

``--objects`` objects each get an operation and a trigger on entering state 5, as in
bench/triggers.py; then, per route, ``--changes`` changes in passes over them (5 on even
passes, 3 on odd ones): ``PATCH /objects/:id {"state_id": N}`` and SAYMON's
``PUT /objects/:id/state``. The firings they start are cleared between passes (no
dispatcher runs), so each change finds what it would under the benchmark's drain. Reported:
CPU µs per change (the process's, worker threads included) and wall µs, the best round of
each route. ``--profile FILE`` writes a cProfile of one PATCH round to FILE.

``--mixed SECONDS`` measures instead what a flat-out burst of PATCHes costs the job route,
as bench/triggers.py does over HTTP, but in one process and on its clock of CPU time (so
that other work on the machine counts less): the server as ``opsjobs serve`` composes it
(its dispatcher included, no runner), 32 readers calling ``GET /jobs/:id`` one after
another, alone for SECONDS of the process's CPU time, then beside 16 writers sending
``PATCH {"state_id"}`` one after another; each caller yields to the loop between calls, as
a network round trip would. Reported: reads and changes per CPU second, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import sqlite3
import tempfile
import time
from pathlib import Path

import orjson
from asgi_lifespan import LifespanManager

from opsjobs.api.app import create_app
from opsjobs.compose import server_app
from opsjobs.config import Settings
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.db import Database
from opsjobs.store.migrate import upgrade
from opsjobs.store.triggers import put_triggers

LOGIN, PASSWORD = "bench", "bench-password-statecost"
STATE, OTHER_STATE = 5, 3


def _settings(url: str) -> Settings:
    return Settings.from_env(
        database_url=url, argon2_time_cost=1, argon2_memory_kib=8, embedded_runner=False
    )


async def _prepare(url: str, objects: int) -> list[str]:
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    app = create_app(_settings(url))
    script = {"name": "t", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    ids = []
    async with LifespanManager(app):
        store = app.state.context.store
        await users.create_user(
            store,
            login=LOGIN,
            password_hash=Passwords(1, 8).hash(PASSWORD),
            permissions=list(PERMISSIONS),
            include=["1"],
        )
        for n in range(objects):
            box = (await entities.create_object(store, name=f"host-{n}", parent_ids=["1"]))["id"]
            op = await operations.create_operation(store, "object", box, script)
            trigger = {"states": [STATE], "type": "operation", "payload": {"operation": op["id"]}}
            await put_triggers(store, EntityKind.OBJECT, box, [trigger])
            ids.append(box)
    return ids


def _request(method: str, path: str, body: bytes):
    header = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode())
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "scheme": "http", "http_version": "1.1",
        "server": ("test", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"authorization", b"Basic " + header),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    return scope, receive


async def _round(app, db_path: Path, route: str, hosts: list[str], changes: int, profile=None):
    statuses: list[int] = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def call(host: str, state: int):
        if route == "patch":
            return _request("PATCH", f"/node/api/objects/{host}", b'{"state_id": %d}' % state)
        return _request("PUT", f"/node/api/objects/{host}/state", b'{"state_id": %d}' % state)

    await app(*call(hosts[0], OTHER_STATE), send)  # the credential verified before the clock
    cpu, wall = 0.0, 0.0
    for number in range(changes // len(hosts)):
        state = STATE if number % 2 == 0 else OTHER_STATE
        with sqlite3.connect(db_path) as conn:  # as the drain would leave it
            conn.execute("DELETE FROM trigger_firings")
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        for host in hosts:
            scope, receive = call(host, state)
            await app(scope, receive, send)
        if profile is not None:
            profile.disable()
        cpu += time.process_time() - cpu_started
        wall += time.perf_counter() - wall_started
    done = (changes // len(hosts)) * len(hosts)
    assert set(statuses) == {200}, statuses[:5]
    return cpu / done * 1e6, wall / done * 1e6


async def main(objects: int, changes: int, rounds: int, profile_to: str | None) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="opsjobs-bench-statecost-"))
    db_path = directory / "opsjobs.db"
    url = f"sqlite:///{db_path}"
    hosts = await _prepare(url, objects)
    best: dict[str, dict[str, float]] = {}
    for number in range(rounds):
        for route in ("patch", "put"):
            app = create_app(_settings(url))
            profile = (
                cProfile.Profile() if profile_to and route == "patch" and number == 0 else None
            )
            async with LifespanManager(app):
                cpu, wall = await _round(app, db_path, route, hosts, changes, profile)
            if profile is not None:
                profile.dump_stats(profile_to)
            was = best.get(route, {"cpu_us": cpu, "wall_us": wall})
            best[route] = {"cpu_us": round(min(was["cpu_us"], cpu)),
                           "wall_us": round(min(was["wall_us"], wall))}  # fmt: skip
    return best


async def _calls(app, make, stop, counter: list[int]) -> None:
    async def send(message):
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise RuntimeError(f"answer {message['status']}")

    n = 0
    while not stop():
        scope, receive = make(n)
        await app(scope, receive, send)
        counter[0] += 1
        n += 1
        await asyncio.sleep(0)  # the round trip to the client


async def _mixed_phase(app, job_path: str, hosts: list[str], seconds: float, writers: int):
    reads, writes = [0], [0]
    began = time.process_time()

    def stop() -> bool:
        return time.process_time() - began > seconds

    def get(_n: int):
        return _request("GET", job_path, b"")

    def patch(n: int):
        host = hosts[n % len(hosts)]
        return _request("PATCH", f"/node/api/objects/{host}", b'{"state_id": %d}' % (5 - n % 2 * 2))

    tasks = [_calls(app, get, stop, reads) for _ in range(32)]
    tasks += [_calls(app, patch, stop, writes) for _ in range(writers)]
    await asyncio.gather(*tasks)
    cpu = time.process_time() - began
    return reads[0] / cpu, writes[0] / cpu


async def mixed(objects: int, seconds: float) -> dict:
    directory = Path(tempfile.mkdtemp(prefix="opsjobs-bench-statecost-"))
    url = f"sqlite:///{directory / 'opsjobs.db'}"
    hosts = await _prepare(url, objects)
    app = server_app(_settings(url))
    async with LifespanManager(app):
        store = app.state.context.store
        await app(*_request("PATCH", f"/node/api/objects/{hosts[0]}", b'{"state_id": 5}'),
                  _ignore)  # fmt: skip
        for _ in range(100):  # the dispatcher queues its job
            found = store.sqlite_read("SELECT id FROM jobs LIMIT 1", (), list)
            if found:
                break
            await asyncio.sleep(0.05)
        job_path = f"/node/api/jobs/{found[0][0]}"
        alone, _ = await _mixed_phase(app, job_path, hosts, seconds, 0)
        during, changes = await _mixed_phase(app, job_path, hosts, seconds, 16)
    return {
        "reads_per_cpu_s_alone": round(alone),
        "reads_per_cpu_s_during": round(during),
        "changes_per_cpu_s": round(changes),
        "ratio": round(during / alone, 3),
    }


async def _ignore(_message) -> None:
    pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--changes", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", help="write a cProfile of the first PATCH round here")
    parser.add_argument("--mixed", type=float, help="CPU seconds of reads, alone and beside")
    options = parser.parse_args()
    if options.mixed:
        figures = asyncio.run(mixed(options.objects, options.mixed))
    else:
        figures = asyncio.run(
            main(options.objects, options.changes, options.rounds, options.profile)
        )
    print(orjson.dumps(figures).decode())
