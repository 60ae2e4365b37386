"""Batches moved on by passes of the dispatcher's step (service/batch_runs.py,
store/batches.py), called here directly: each target gets one job however many passes race
on one batch, a cancel wins over a pass that read before it, a subtree with loops and shared
children names each object once, and an owner who lost a right stops the batch."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import insert, select, text

from helpers.execution import opened_store
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.outcome import Outcome
from opsjobs.service import batch_runs
from opsjobs.service.batches import cancel_batch, create_batch
from opsjobs.store import batches as stored
from opsjobs.store import entities, operations, queue, users
from opsjobs.store.schema import jobs, object_parents

TAG = "nowhere"
OPERATION = {
    "name": "restart",
    "type": 2,
    "parameters": {"type": "fileSystem", "path": "/bin/true", "args": [], "runner": TAG},
}


@pytest.fixture
async def world(backend, database_url):
    """A class ``node`` with an operation, ``top`` with 6 children of the class, and the
    owner ``ops`` with run-bulks and execute-operations over everything."""
    async with opened_store(database_url) as store:
        async with store.write() as conn:
            await conn.execute(
                text(
                    "INSERT INTO classes (id, name, created, updated) "
                    "VALUES ('c0ffee0000000000000000aa', 'node', 0, 0)"
                )
            )
        node = "c0ffee0000000000000000aa"
        op = (await operations.create_operation(store, "class", node, OPERATION))["id"]
        top = (await entities.create_object(store, name="top", parent_ids=["1"]))["id"]
        children = [
            (await entities.create_object(store, name=f"n{i}", parent_ids=[top], class_id=node))[
                "id"
            ]
            for i in range(6)
        ]
        owner = await users.create_user(
            store,
            login="ops",
            password_hash="x",
            permissions=["run-bulks", "execute-operations"],
            include=["1"],
        )
        yield store, op, top, children, store.directory.principals[owner["id"]]


async def _new(store, principal, op, top, **fields) -> dict:
    return await create_batch(
        store, principal, {"operation": op, "target": {"subtree": top}, **fields}
    )


async def _pass(store) -> list:
    done, _running = await batch_runs.run_batches(store, default_timeout=60)
    return done


async def _batch_jobs(store) -> list:
    async with store.read() as conn:
        rows = await conn.execute(select(jobs.c.owner_id, jobs.c.process_meta))
        return [r for r in rows if r.process_meta and "batch" in orjson.loads(r.process_meta)]


async def test_racing_passes_queue_each_target_once(world):
    store, op, top, children, owner = world
    made = await _new(store, owner, op, top, concurrency=100)
    # Ten passes read the batch at once; one of them queues, the others find it moved on.
    done = await asyncio.gather(*(_pass(store) for _ in range(10)))
    assert sum(len(d) for d in done) == 1
    queued = await _batch_jobs(store)
    assert sorted(r.owner_id for r in queued) == sorted(children)
    meta = orjson.loads(queued[0].process_meta)
    assert meta == {"batch": {"id": made["id"], "name": f"batch of {op}"}}
    for _ in range(3):  # nothing more to do until a job ends
        assert await _pass(store) == []


async def test_a_cancel_wins_over_a_pass_that_read_before_it(world):
    store, op, top, children, owner = world
    made = await _new(store, owner, op, top, concurrency=2)
    row = (await stored.running(store, 10))[0]
    await store.catch_up()
    step = await batch_runs._step(store, row, 0, 60)  # read, rendered, not yet consumed
    assert len(step.queued) == 2
    cancelled = await cancel_batch(store, made["id"])
    assert cancelled["status"] == "cancelled" and cancelled["counts"]["notQueued"] == 7 - 1
    assert await stored.consume(store, [step]) == []
    assert await _batch_jobs(store) == []


async def test_the_concurrency_limit_holds_as_jobs_end(world):
    store, op, top, children, owner = world
    made = await _new(store, owner, op, top, concurrency=2, stopAfterFailures=None)
    ended = 0
    while True:
        await _pass(store)
        counts = await stored.counts(store, made["id"])
        live = counts.get("queued", 0) + counts.get("running", 0) + counts.get("active", 0)
        assert live <= 2, counts
        claimed = await queue.claim_many(store, "r", [TAG], 1)
        if not claimed:
            break
        await queue.finish(store, "r", claimed[0].id, Outcome(JobStatus.FAILED, {}))
        ended += 1
    assert ended == 6
    await _pass(store)
    row = await stored.get(store, made["id"])
    assert (row.status, row.failures) == ("finished", 6)


async def test_an_owner_without_run_bulks_stops_the_batch(world):
    store, op, top, children, owner = world
    made = await _new(store, owner, op, top, concurrency=1)
    await _pass(store)
    await users.update_user(store, owner.id, {"permissions": ["execute-operations"]})
    claimed = await queue.claim_many(store, "r", [TAG], 1)
    await queue.finish(store, "r", claimed[0].id, Outcome(JobStatus.SUCCEEDED, {}))
    await _pass(store)
    row = await stored.get(store, made["id"])
    assert row.status == "stopped"
    assert row.stopped_reason == "the owner (ops) no longer holds run-bulks"
    assert len(await _batch_jobs(store)) == 1


async def test_a_subtree_names_each_object_once_through_loops_and_shared_children(world):
    store, op, top, children, owner = world
    a, b, c = children[:3]
    async with store.write() as conn:  # b also under a; a also under c; c also under b
        await conn.execute(
            insert(object_parents),
            [
                {"object_id": b, "parent_id": a, "position": 1},
                {"object_id": a, "parent_id": c, "position": 1},
                {"object_id": c, "parent_id": b, "position": 1},
            ],
        )
        await conn.execute(text("UPDATE revisions SET value = value + 1"))
    await store.catch_up()
    made = await _new(store, owner, op, top, concurrency=100)
    assert made["counts"]["waiting"] == 6 and made["counts"]["skipped"] == 1  # top itself
    await _pass(store)
    assert sorted(r.owner_id for r in await _batch_jobs(store)) == sorted(children)
