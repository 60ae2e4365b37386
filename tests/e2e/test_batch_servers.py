"""A batch with two real `opsjobs serve` processes sharing one PostgreSQL database, each with
its dispatcher and its runner: each target gets exactly one job, never more than the
batch's concurrency are queued or running at once, and a person's execute made while the
batch fills the queue is started within a bounded time (docs/decisions.md, "Batches and
fairness")."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter

import httpx
import orjson
import pytest
from sqlalchemy import select, text

from helpers import cli_env, running_server
from helpers.execution import opened_store
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.schema import jobs

ADMIN = ("admin", "admin-secret")
TARGETS = 120
CONCURRENCY = 40
JOB_SECONDS = 0.5
# A person's job may wait for a free slot (a batch job of JOB_SECONDS ends), and for a
# busy machine; it must not wait for the CONCURRENCY batch jobs queued before it.
PROMPT_SECONDS = 3.0


async def seed(url: str) -> tuple[str, str, str, str]:
    """An admin, ``fleet`` with TARGETS children each with an operation that sleeps, and
    ``desk`` with a quick one: (fleet, its operation's class, desk, desk's operation)."""
    async with opened_store(url) as store:
        hashed = Passwords(1, 8).hash(ADMIN[1])
        await users.create_user(
            store, login=ADMIN[0], password_hash=hashed, permissions=list(PERMISSIONS),
            include=["1"],
        )  # fmt: skip
        async with store.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO classes (id, name, created, updated) "
                    "VALUES ('c0ffee0000000000000000bb', 'fleet', 0, 0)"
                )
            )
        node = "c0ffee0000000000000000bb"
        slow = {
            "name": "slow",
            "type": 2,
            "parameters": {"type": "scriptText", "text": f"sleep {JOB_SECONDS}"},
        }
        slow_op = (await operations.create_operation(store, "class", node, slow))["id"]
        fleet = (await entities.create_object(store, name="fleet", parent_ids=["1"]))["id"]
        for i in range(TARGETS):
            await entities.create_object(store, name=f"m{i}", parent_ids=[fleet], class_id=node)
        desk = (await entities.create_object(store, name="desk", parent_ids=["1"]))["id"]
        quick = {"name": "quick", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
        quick_op = (await operations.create_operation(store, "object", desk, quick))["id"]
        return fleet, slow_op, desk, quick_op


async def batch_jobs(url: str, batch_id: str) -> list:
    async with opened_store(url) as store, store.read() as conn:
        rows = (await conn.execute(select(jobs.c.owner_id, jobs.c.process_meta))).all()
    return [
        r
        for r in rows
        if r.process_meta and orjson.loads(r.process_meta).get("batch", {}).get("id") == batch_id
    ]


async def _interactive(client, base: str, desk: str, quick_op: str) -> float:
    """Seconds from a person's execute to its job starting."""
    url = f"{base}/node/api/objects/{desk}/operations/{quick_op}/execute"
    response = await client.post(url, json={})
    assert response.status_code == 200, response.text
    job_id = response.json()
    while True:
        job = (await client.get(f"{base}/node/api/jobs/{job_id}")).json()
        if job["execution"]["started"] is not None:
            return (job["execution"]["started"] - job["timestamp"]) / 1000
        await asyncio.sleep(0.02)


async def _watch(client, base: str, batch_id: str, seen: list[int]) -> dict:
    """The batch until it ends, recording how many of its jobs were queued or running."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        batch = (await client.get(f"{base}/node/api/batches/{batch_id}?limit=1")).json()
        seen.append(batch["counts"]["queued"] + batch["counts"]["running"])
        if batch["status"] != "running":
            return batch
        await asyncio.sleep(0.1)
    raise AssertionError("the batch did not end")


async def test_two_servers_run_each_target_once_and_people_first(backend, database_url):
    if backend != "postgresql":
        pytest.skip("several servers share a PostgreSQL database")
    fleet, slow_op, desk, quick_op = await seed(database_url)
    env = cli_env(OPSJOBS_TRIGGER_POLL_SECONDS="0.5")
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(running_server(database_url, env=env))[0] for _ in range(2)]
        async with httpx.AsyncClient(auth=ADMIN, timeout=60) as client:
            body = {
                "name": "fleet restart",
                "operation": slow_op,
                "target": {"subtree": fleet},
                "concurrency": CONCURRENCY,
            }
            response = await client.post(f"{bases[0]}/node/api/batches", json=body)
            assert response.status_code == 202, response.text
            batch = response.json()
            seen: list[int] = []
            watching = asyncio.create_task(_watch(client, bases[1], batch["id"], seen))
            await asyncio.sleep(1.0)  # the queue is full of the batch's jobs by now
            waits = [await _interactive(client, bases[i % 2], desk, quick_op) for i in range(4)]
            ended = await watching
    print(f"\nlive batch jobs seen: max {max(seen)}; a person's job started after {waits} s")
    assert ended["status"] == "finished", ended
    assert ended["counts"]["succeeded"] == TARGETS and ended["counts"]["skipped"] == 1  # fleet
    found = await batch_jobs(database_url, batch["id"])
    per_target = Counter(r.owner_id for r in found)
    assert len(per_target) == TARGETS and set(per_target.values()) == {1}
    assert max(seen) <= CONCURRENCY
    assert max(waits) < PROMPT_SECONDS, waits
