"""Many servers, one truth: read-your-writes across processes.

Real `opsjobs serve` processes on one database: three on PostgreSQL, and one with
`--workers 4` on SQLite. Round trips each create something through one server and use it at
once through another: an object, then an operation on it, a property, an execute and the
job; a user, then a login and the job read as that user. Every step must succeed the first
time: not one retry, not one 404 or 401. Every executed job runs exactly once (each leaves
one mark) and succeeds.

OPSJOBS_TEST_ROUND_TRIPS sets the number of round trips per backend (default sized for CI).
"""

from __future__ import annotations

import base64
import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from helpers import cli_env, running_server
from helpers.execution import opened_store
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import users

ROUND_TRIPS = int(os.environ.get("OPSJOBS_TEST_ROUND_TRIPS", "250"))
CLIENTS = 4  # round trips under way at once, each one step after another
ADMIN = ("admin", "admin-secret")
FINAL = {"succeeded", "failed", "timeout", "cancelled", "lost"}

pytestmark = pytest.mark.timeout(900)


def basic(login: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


async def seed_admin(database_url: str) -> None:
    async with opened_store(database_url) as store:
        await users.create_user(
            store,
            login=ADMIN[0],
            password_hash=Passwords(time_cost=1, memory_kib=8).hash(ADMIN[1]),
            permissions=list(PERMISSIONS),
            include=["1"],
        )


class Servers:
    """Picks the server of each step: a different one from the step before, in rotation. With
    ``fresh_connections`` every request opens a new connection, so that the workers of one
    `serve --workers N` take turns as the kernel hands them connections."""

    def __init__(self, bases: list[str], fresh_connections: bool) -> None:
        self.bases = bases
        limits = httpx.Limits(max_keepalive_connections=0 if fresh_connections else 8)
        self.clients = [httpx.Client(base_url=b, timeout=60, limits=limits) for b in bases]

    def pick(self, n: int) -> httpx.Client:
        return self.clients[n % len(self.clients)]

    def close(self) -> None:
        for client in self.clients:
            client.close()


def round_trip(servers: Servers, n: int, marks: Path) -> tuple[list[str], str | None]:
    """One create-then-use round trip; the failures (step, status, body) and the job's ID."""
    admin = basic(*ADMIN)
    failures: list[str] = []
    step = n  # each request goes to the next server

    def call(what: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        nonlocal step
        step += 1
        response = servers.pick(step).request(method, "/node/api" + path, **kwargs)
        if response.status_code != 200:
            failures.append(f"{what}: {response.status_code} {response.text[:200]}")
            return None
        return response

    created = call("create object", "POST", "/objects", json={"name": f"o{n}"}, headers=admin)
    if created is None:
        return failures, None
    object_id = created.json()["id"]
    script = f"echo ran >> {marks / object_id}"
    operation = call(
        "add operation",
        "POST",
        f"/objects/{object_id}/operations",
        json={"name": "mark", "type": 2, "parameters": {"type": "scriptText", "text": script}},
        headers=admin,
    )
    call(
        "set property",
        "PATCH",
        f"/objects/{object_id}",
        json={"properties": [{"name": "n", "value": str(n)}]},
        headers=admin,
    )
    job_id = None
    if operation is not None:
        executed = call(
            "execute",
            "POST",
            f"/objects/{object_id}/operations/{operation.json()['id']}/execute",
            headers=admin,
        )
        if executed is not None:
            job_id = executed.json()
            call("read job", "GET", f"/jobs/{job_id}", headers=admin)
    login, password = f"user-{n}-{os.getpid()}", f"password-{n}"
    made = call(
        "create user",
        "POST",
        "/users",
        json={
            "login": login,
            "password": password,
            "objectPermissions": {"include": [object_id]},
        },
        headers=admin,
    )
    if made is not None:
        call("log in", "POST", "/users/session", json={"login": login, "password": password})
        if job_id is not None:  # the hot path, as a user no other server has seen yet
            call(
                "read job as the new user", "GET", f"/jobs/{job_id}", headers=basic(login, password)
            )
    return failures, job_id


def run_round_trips(bases: list[str], marks: Path, *, fresh_connections: bool) -> None:
    servers = Servers(bases, fresh_connections)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda n: round_trip(servers, n, marks), range(ROUND_TRIPS)))
        elapsed = time.monotonic() - started
        failures = [f for found, _job in results for f in found]
        failed = sum(1 for found, _job in results if found)
        job_ids = [job for _found, job in results if job is not None]
        print(
            f"\n{ROUND_TRIPS} round trips through {len(bases)} address(es) in {elapsed:.1f} s: "
            f"{failed} failed ({len(failures)} failed steps)"
        )
        assert not failures, f"{failed} of {ROUND_TRIPS} round trips failed: {failures[:10]}"
        assert len(job_ids) == ROUND_TRIPS
        statuses = wait_final(servers, job_ids)
        assert statuses == {"succeeded": ROUND_TRIPS}, statuses
        ran = {p.name: p.read_text().count("ran") for p in marks.iterdir()}
        assert len(ran) == ROUND_TRIPS and set(ran.values()) == {1}, ran
    finally:
        servers.close()


def wait_final(servers: Servers, job_ids: list[str], timeout: float = 300) -> dict[str, int]:
    admin = basic(*ADMIN)
    deadline = time.monotonic() + timeout
    statuses: dict[str, str] = {}
    pending = list(job_ids)
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} jobs not finished"
        still = []
        for n, job_id in enumerate(pending):
            job = servers.pick(n).get(f"/node/api/jobs/{job_id}", headers=admin)
            assert job.status_code == 200, job.text
            status = job.json()["execution"]["status"]
            if status in FINAL:
                statuses[job_id] = status
            else:
                still.append(job_id)
        pending = still
        if pending:
            time.sleep(0.5)
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    return counts


def server_env() -> dict[str, str]:
    # Argon2 at its cheapest: what is measured is freshness, not password hashing. Runners
    # wake at once for jobs queued in their own process; others poll, quickly here.
    return cli_env(
        OPSJOBS_ARGON2_TIME_COST="1",
        OPSJOBS_ARGON2_MEMORY_KIB="8",
        OPSJOBS_RUNNER_POLL_SECONDS="0.5",
    )


async def test_three_servers_on_postgresql_read_their_writes(backend, database_url, tmp_path):
    if backend != "postgresql":
        pytest.skip("several `serve` processes on several hosts share a PostgreSQL database")
    await seed_admin(database_url)
    marks = tmp_path / "marks"
    marks.mkdir()
    with contextlib.ExitStack() as stack:
        bases = [
            stack.enter_context(running_server(database_url, env=server_env()))[0] for _ in range(3)
        ]
        run_round_trips(bases, marks, fresh_connections=False)


async def test_serve_with_four_workers_on_sqlite_reads_its_writes(tmp_path, database_url):
    await seed_admin(database_url)
    marks = tmp_path / "marks"
    marks.mkdir()
    with running_server(database_url, "--workers", "4", env=server_env()) as (base, _process):
        run_round_trips([base], marks, fresh_connections=True)
