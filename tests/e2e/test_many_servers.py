"""Many servers, one truth, on PostgreSQL: three `opsjobs serve` processes (each with its
embedded runner) and two `opsjobs runner` processes share one database while another
process keeps a core busy; executes are spread over the three servers. Every job's final
status is what its script did (each script leaves a mark with its job ID), no job is lost,
none runs twice.

Sized for CI: OPSJOBS_MANY_EXECUTES (default 1,000) executes, 16 at a time."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections import Counter

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from conftest import basic
from helpers import cli_env, running_server
from helpers.execution import opened_store
from helpers.runners import runner_process
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.schema import jobs

EXECUTES = int(os.environ.get("OPSJOBS_MANY_EXECUTES") or 1000)
AT_ONCE = 16
SETTINGS = {
    "OPSJOBS_HEARTBEAT_SECONDS": "0.5",
    "OPSJOBS_LOST_AFTER_SECONDS": "5",
    "OPSJOBS_RUNNER_CONCURRENCY": "4",
    "OPSJOBS_RUNNER_POLL_SECONDS": "2",
}


@pytest.fixture
def pg_url(backend, database_url) -> str:
    if backend != "postgresql":
        pytest.skip("several servers share a PostgreSQL database")
    return database_url


@contextlib.contextmanager
def busy_core():
    """Another process that keeps a core busy for as long as the block runs."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        process.kill()
        process.wait()


async def seed(url: str, marks: str) -> dict:
    async with opened_store(url) as store:
        hashed = Passwords(1, 8).hash("admin-secret")
        await users.create_user(
            store, login="admin", password_hash=hashed, permissions=list(PERMISSIONS),
            include=["1"],
        )  # fmt: skip
        object_id = (await entities.create_object(store, name="web", parent_ids=["1"]))["id"]
        made = {}
        for name, text in (
            ("ok", f'echo "$OPSJOBS_JOB_ID" >> {marks}; echo ok'),
            ("fail", f'echo "$OPSJOBS_JOB_ID" >> {marks}; echo no >&2; exit 3'),
        ):
            document = {"name": name, "type": 2, "parameters": {"type": "scriptText", "text": text}}
            made[name] = (await operations.create_operation(store, "object", object_id, document))[
                "id"
            ]
        return {"object": object_id, **made}


async def execute_all(bases: list[str], seeded: dict) -> dict[str, str]:
    """EXECUTES executes, spread round-robin over the servers; job ID → operation name."""
    kinds = itertools.cycle(["ok", "ok", "fail"])
    targets = itertools.cycle(bases)
    plan = [(next(targets), next(kinds)) for _ in range(EXECUTES)]
    made: dict[str, str] = {}
    headers = basic("admin", "admin-secret")
    async with httpx.AsyncClient(timeout=60, headers=headers) as client:

        async def worker(share: list[tuple[str, str]]) -> None:
            for base, kind in share:
                path = f"/node/api/objects/{seeded['object']}/operations/{seeded[kind]}/execute"
                response = await client.post(base + path)
                assert response.status_code == 200, response.text
                made[response.json()] = kind

        await asyncio.gather(*(worker(plan[n::AT_ONCE]) for n in range(AT_ONCE)))
    return made


async def test_every_job_ends_as_its_script_did_across_servers_and_runners(pg_url, tmp_path):
    marks = tmp_path / "marks"
    seeded = await seed(pg_url, str(marks))
    env = cli_env(**SETTINGS)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(running_server(pg_url, env=env))[0] for _ in range(3)]
        for _ in range(2):
            stack.enter_context(runner_process(pg_url, **SETTINGS))
        stack.enter_context(busy_core())
        started = time.monotonic()
        made = await execute_all(bases, seeded)
        async with opened_store(pg_url) as store:
            deadline = time.monotonic() + 120 + EXECUTES * 0.2
            while True:
                async with store.read() as conn:
                    unfinished = (
                        await conn.execute(
                            select(func.count()).where(jobs.c.status.in_(["queued", "running"]))
                        )
                    ).scalar_one()
                if not unfinished:
                    break
                assert time.monotonic() < deadline, f"{unfinished} jobs unfinished"
                await asyncio.sleep(0.5)
            took = time.monotonic() - started
            async with store.read() as conn:
                rows = (
                    await conn.execute(
                        select(
                            jobs.c.id, jobs.c.status, jobs.c.description, jobs.c.runner,
                            jobs.c.history,
                        )
                    )
                ).all()  # fmt: skip
    ran = Counter(marks.read_text().split())
    statuses = Counter(row.status for row in rows)
    runners = Counter(row.runner for row in rows)
    print(f"\n{EXECUTES} executes in {took:.1f} s; statuses {dict(statuses)}; "
          f"runners {len(runners)}: {sorted(runners.values())}")  # fmt: skip
    assert len(made) == EXECUTES and {row.id for row in rows} == set(made)
    assert set(ran) == set(made), "every job ran"
    assert [job for job, times in ran.items() if times > 1] == [], "none ran twice"
    assert statuses["lost"] == 0
    expected = {"ok": ("succeeded", 0), "fail": ("failed", 3)}
    wrong = [
        row.id
        for row in rows
        if (row.status, orjson.loads(row.description).get("exitCode")) != expected[made[row.id]]
        or row.history is not None
    ]
    assert wrong == [], f"{len(wrong)} jobs recorded otherwise than their script ran"
    assert len(runners) == 5, "all five runners took part"
