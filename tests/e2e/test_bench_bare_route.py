"""The benchmark's bare job route (bench/bare_route.py): served by the same granian
configuration as ``opsjobs serve``, it answers ``GET /node/api/jobs/:id`` with the very body
opsjobs answers for that job, whichever job is asked for and in whatever order, so that the
two are measured doing the same work for the client; an ID it does not find is a 404, any
other path gets a constant answer (the readiness check's ping)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import signal
import sys
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from opsjobs.api.app import create_app
from opsjobs.config import Settings
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import users
from opsjobs.store.db import Database
from opsjobs.store.jobs import insert_jobs
from opsjobs.store.migrate import upgrade

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository's bench/

from bench import bare_route, servers  # noqa: E402

LOGIN, PASSWORD = "bare", "bare-route-password"
# Every column of the document set in one job or another, none alike: a route that mixed
# up two columns, ignored the ID or served a cached body would answer some job wrongly.
JOBS = [
    {
        "id": "6b0c3a99109606ffd3a35595", "owner_id": "1", "owner_type": 1,
        "operation_id": None, "operation_name": "uptime", "user_id": None,
        "timestamp": 1_700_000_000_000, "process_meta": None,
        "description": '{"stdout": "up 3 days", "exitCode": 0}', "results": "[]",
        "status": "succeeded", "started": 1, "finished": 2, "error": None,
        "truncated": False, "runner": "bench", "history": None,
    },
    {
        "id": "6b0c3a99109606ffd3a35596", "owner_id": "1", "owner_type": 1,
        "operation_id": "6b0c3a99109606ffd3a355aa", "operation_name": "disk",
        "user_id": "6b0c3a99109606ffd3a355bb", "timestamp": 1_700_000_000_500,
        "process_meta": '{"pid": 4242}', "description": '{"stderr": "no space", "exitCode": 1}',
        "results": '[{"k": 1}]', "status": "failed", "started": 3, "finished": 4,
        "error": "exit 1", "truncated": True, "runner": "edge-7",
        "history": '[{"status": "queued", "at": 3}]',
    },
    {
        "id": "6b0c3a99109606ffd3a35597", "owner_id": "1", "owner_type": 1,
        "operation_id": "6b0c3a99109606ffd3a355cc", "operation_name": "restart",
        "user_id": "6b0c3a99109606ffd3a355dd", "timestamp": 1_700_000_001_000,
        "process_meta": None, "description": "{}", "results": "[]", "status": "running",
        "started": 5, "finished": None, "error": None, "truncated": False,
        "runner": "edge-8", "history": None,
    },
]  # fmt: skip
UNKNOWN_ID = "6b0c3a99109606ffd3a355ff"


async def _opsjobs_answers(url: str) -> dict[str, bytes]:
    """Each job's body as opsjobs itself answers it, to a user who may see it."""
    database = Database(url)
    try:
        await upgrade(database)
    finally:
        await database.dispose()
    app = create_app(Settings.from_env(database_url=url, argon2_time_cost=1, argon2_memory_kib=8))
    async with LifespanManager(app):
        store = app.state.context.store
        hashed = Passwords(1, 8).hash(PASSWORD)
        await users.create_user(
            store, login=LOGIN, password_hash=hashed, permissions=list(PERMISSIONS), include=["1"]
        )
        await insert_jobs(store, JOBS)
        transport = httpx.ASGITransport(app=app)
        answers = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for job in JOBS:
                answer = await client.get(f"/node/api/jobs/{job['id']}", auth=(LOGIN, PASSWORD))
                assert answer.status_code == 200
                answers[job["id"]] = answer.content
    return answers


def _get(server, path: str) -> tuple[int, dict[str, str], bytes]:
    token = base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    conn = http.client.HTTPConnection(servers.HOST, server.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Basic {token}"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def database(tmp_path) -> tuple[Path, dict[str, bytes]]:
    path = tmp_path / "jobs.db"
    return path, asyncio.run(_opsjobs_answers(f"sqlite:///{path}"))


@pytest.fixture
def served(database, tmp_path):
    server = bare_route.start(database[0], None, tmp_path / "logs")
    try:
        yield server
    finally:
        server.stop()


def test_it_answers_each_job_with_the_body_opsjobs_answers(database, served):
    expected = database[1]
    assert len(set(expected.values())) == len(JOBS)
    for job_id in [*expected, *reversed(expected), JOBS[1]["id"]]:
        status, headers, body = _get(served, f"{bare_route.PREFIX}{job_id}")
        assert (status, body) == (200, expected[job_id])
        assert headers["content-type"] == "application/json"
        assert headers["content-length"] == str(len(body))
        assert headers["server"] == "granian"  # the server opsjobs serve runs under


def test_an_unknown_job_is_a_404(served):
    assert _get(served, f"{bare_route.PREFIX}{UNKNOWN_ID}")[::2] == (404, b"")


def test_other_paths_get_a_constant_and_it_stops_when_told(served):
    assert _get(served, "/node/api/ping")[:1] == (200,)
    served.stop()
    assert served.process.returncode != -signal.SIGKILL  # ended on SIGTERM, not killed
