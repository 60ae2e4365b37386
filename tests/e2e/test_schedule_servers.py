"""A schedule runs each due time once in total with two real `opsjobs serve` processes
sharing one PostgreSQL database, each of them with its dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import httpx
import orjson
import pytest
from sqlalchemy import select

from helpers import cli_env, running_server
from helpers.execution import opened_store, rows_when
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.schema import jobs

ADMIN = ("admin", "admin-secret")
RUN_SECONDS = 8
SETTINGS = {"OPSJOBS_TRIGGER_POLL_SECONDS": "0.5"}


async def seed(url: str) -> tuple[str, str]:
    """An admin, and an object with an operation that does nothing: (object, operation)."""
    async with opened_store(url) as store:
        hashed = Passwords(1, 8).hash(ADMIN[1])
        await users.create_user(
            store, login=ADMIN[0], password_hash=hashed, permissions=list(PERMISSIONS),
            include=["1"],
        )  # fmt: skip
        host = (await entities.create_object(store, name="host", parent_ids=["1"]))["id"]
        document = {"name": "tick", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        operation = await operations.create_operation(store, "object", host, document)
        return host, operation["id"]


async def schedule_jobs(url: str) -> list:
    async with opened_store(url) as store, store.read() as conn:
        return (await conn.execute(select(jobs.c.process_meta, jobs.c.user_id))).all()


async def test_two_servers_run_each_due_time_once(backend, database_url):
    if backend != "postgresql":
        pytest.skip("several servers share a PostgreSQL database")
    host, operation = await seed(database_url)
    env = cli_env(**SETTINGS)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(running_server(database_url, env=env))[0] for _ in range(2)]
        async with httpx.AsyncClient(auth=ADMIN, timeout=60) as client:
            body = {
                "name": "every second",
                "operation": operation,
                "target": {"object": host},
                "interval": 1,
                "missed": "run-once",
            }
            response = await client.post(f"{bases[0]}/node/api/schedules", json=body)
            assert response.status_code == 200, response.text
            schedule = response.json()
            await asyncio.sleep(RUN_SECONDS)  # the test's subject is how many ran in this time
            url = f"{bases[1]}/node/api/schedules/{schedule['id']}/pause"
            paused = await client.post(url)
            assert paused.status_code == 200, paused.text
    found = await schedule_jobs(database_url)
    metas = [orjson.loads(job.process_meta)["schedule"] for job in found]
    due = Counter(meta["dueAt"] for meta in metas)
    delays = sorted(meta["firedAt"] - meta["dueAt"] for meta in metas)
    print(f"\n{len(found)} runs in {RUN_SECONDS} s from two servers; ms after due: {delays}")
    assert [at for at, n in due.items() if n > 1] == [], "no due time ran twice"
    assert len(found) >= RUN_SECONDS // 2  # a busy machine may run late, never twice
    first = min(due)
    assert all((at - first) % 1000 == 0 for at in due), "each on the schedule's own grid"
    assert {job.user_id for job in found} == {schedule["owner"]}
    assert {meta["id"] for meta in metas} == {schedule["id"]}


async def wait_for(url: str, count: int, seconds: float = 60) -> list:
    return await rows_when(lambda: schedule_jobs(url), count, seconds)


async def test_times_missed_while_down_run_once_late(backend, database_url):
    """run-once: a server down past several due times makes one late job when it is back."""
    host, operation = await seed(database_url)
    env = cli_env(**SETTINGS, OPSJOBS_TRIGGER_LATE_AFTER_SECONDS="0.5")
    body = {
        "name": "backup",
        "operation": operation,
        "target": {"object": host},
        "interval": 2,
        "missed": "run-once",
    }
    async with httpx.AsyncClient(auth=ADMIN, timeout=60) as client:
        with running_server(database_url, env=env) as (base, _):
            response = await client.post(f"{base}/node/api/schedules", json=body)
            assert response.status_code == 200, response.text
        down_until = response.json()["nextRunAt"] + 5000  # three due times pass meanwhile
        while time.time() * 1000 < down_until:
            await asyncio.sleep(0.2)
        assert await schedule_jobs(database_url) == []
        with running_server(database_url, env=env):
            assert len(await wait_for(database_url, 1)) >= 1
    metas = sorted(
        (orjson.loads(job.process_meta)["schedule"] for job in await schedule_jobs(database_url)),
        key=lambda meta: meta["dueAt"],
    )
    assert metas[0]["late"] is True and metas[0]["dueAt"] == response.json()["nextRunAt"]
    assert all(meta["dueAt"] > down_until - 1000 for meta in metas[1:]), "no burst of the missed"
