"""Checks that set states (docs/api.md §9): a job of an operation with ``setsState`` sets its
entity's state when it ends, in the transaction that records the end, so the state's triggers
fire and the state history names the job. Real processes, the server's embedded runner and
dispatcher; cancelled and lost runs set nothing."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from sqlalchemy import select

from helpers import free_port
from helpers.execution import opened_store, queue, runner_settings, started_runner, wait_status
from opsjobs.domain.jobs import JobStatus
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.outcome import Outcome
from opsjobs.domain.spec import MqttSpec, ScriptSpec
from opsjobs.store import entities, operations, triggers
from opsjobs.store import queue as job_queue
from opsjobs.store.schema import objects, state_history

# Each on SQLite (its on-loop writer beside the regular transaction) and on PostgreSQL.
pytestmark = pytest.mark.usefixtures("backend")

CHECK = {"exitCodes": {"0": 3, "1": 4}, "otherwise": 5, "timeout": 5}


async def _jobs(api, headers: dict, host: str) -> list[dict]:
    response = await api.client.post("/node/api/jobs", json={"objects": [host]}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _wait(api, headers: dict, host: str, done, seconds: float = 30) -> list[dict]:
    deadline = time.monotonic() + seconds
    while True:
        found = await _jobs(api, headers, host)
        if done(found) or time.monotonic() > deadline:
            assert done(found), f"not there yet: {found}"
            return found
        await asyncio.sleep(0.05)


async def _state(store, entity_id: str) -> int:
    async with store.read() as conn:
        return (
            await conn.execute(select(objects.c.state_id).where(objects.c.id == entity_id))
        ).scalar_one()


async def test_a_check_that_exits_1_sets_overloaded_and_its_trigger_fires(api):
    admin = await api.admin()
    host = await api.object("web-1")
    check = {
        "name": "check",
        "type": 2,
        "parameters": {"type": "scriptText", "text": "exit 1", "setsState": CHECK},
    }
    response = await api.client.post(
        f"/node/api/objects/{host}/operations", json=check, headers=admin
    )
    assert response.status_code == 200, response.text
    check_id = response.json()["id"]
    assert response.json()["parameters"]["setsState"] == CHECK
    document = {"name": "react", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    react = await operations.create_operation(api.store, "object", host, document)
    on_overload = {"states": [4], "type": "operation", "payload": {"operation": react["id"]}}
    await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [on_overload])

    response = await api.client.post(
        f"/node/api/objects/{host}/operations/{check_id}/execute", headers=admin
    )
    assert response.status_code == 200, response.text
    check_job = response.json()
    found = await _wait(
        api, admin, host, lambda js: any(j["operation_id"] == react["id"] for j in js)
    )
    (checked,) = [j for j in found if j["id"] == check_job]
    assert checked["execution"]["status"] == "failed"
    assert checked["description"]["exitCode"] == 1
    assert await _state(api.store, host) == 4
    (reaction,) = [j for j in found if j["operation_id"] == react["id"]]
    change = reaction["process_meta"]["stateChange"]
    assert (change["from"], change["to"]) == (1, 4)
    async with api.store.read() as conn:
        row = (
            await conn.execute(select(state_history).where(state_history.c.id == change["id"]))
        ).one()
    assert (row.job_id, row.owner_id, row.state_id, row.user_id) == (check_job, host, 4, None)


async def test_a_check_that_succeeds_then_times_out(api):
    admin = await api.admin()
    host = await api.object("db-1")
    check = {
        "name": "check",
        "type": 2,
        "parameters": {"type": "fileSystem", "path": "/bin/true", "setsState": CHECK},
    }
    made = await operations.create_operation(api.store, "object", host, check)
    url = f"/node/api/objects/{host}/operations/{made['id']}/execute"
    first = (await api.client.post(url, headers=admin)).json()
    await _wait(
        api, admin, host, lambda js: any(j["execution"]["status"] == "succeeded" for j in js)
    )
    assert await _state(api.store, host) == 3
    slow = {"path": "/bin/sleep", "args": ["30"], "timeout": 0.5}
    patched = await api.client.patch(
        f"/node/api/objects/{host}/operations/{made['id']}",
        json={"parameters": slow},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    second = (await api.client.post(url, headers=admin)).json()
    await _wait(api, admin, host, lambda js: any(j["execution"]["status"] == "timeout" for j in js))
    assert await _state(api.store, host) == 5
    async with api.store.read() as conn:
        rows = (
            await conn.execute(
                select(state_history.c.job_id, state_history.c.state_id)
                .where(state_history.c.owner_id == host, state_history.c.job_id.is_not(None))
                .order_by(state_history.c.timestamp)
            )
        ).all()
    assert [tuple(r) for r in rows] == [(first, 3), (second, 5)]


async def test_cancelled_and_lost_runs_set_nothing(database_url):
    settings = runner_settings(database_url)
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="h", parent_ids=["1"]))["id"]
        spec = ScriptSpec("sleep 30", 60, sets_state={"otherwise": 5, "timeout": 5})
        async with started_runner(store, settings) as runner:
            job_id = await queue(store, spec, owner_id=host)
            deadline = time.monotonic() + 30
            while job_id not in runner._controls and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert await job_queue.cancel(store, job_id) is JobStatus.RUNNING
            assert (await wait_status(store, job_id, timeout=30))["execution"][
                "status"
            ] == "cancelled"
        assert await _state(store, host) == 1
        # A runner that learns its job was marked lost ends it as lost: nothing is set.
        lost = await queue(store, spec, owner_id=host)
        (claimed,) = await job_queue.claim_many(store, "gone")
        assert claimed.id == lost
        ended = Outcome(JobStatus.LOST, {}, "runner lost", sets_state=None)
        assert await job_queue.finish(store, "gone", lost, ended)
        assert await _state(store, host) == 1
        async with store.read() as conn:
            assert (await conn.execute(select(state_history.c.job_id))).scalars().all() == [None]


async def test_a_late_end_sets_the_state_and_a_deleted_entity_loses_nothing(database_url):
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="h", parent_ids=["1"]))["id"]
        gone = (await entities.create_object(store, name="g", parent_ids=["1"]))["id"]
        first = await queue(store, ScriptSpec("true", 5), owner_id=host)
        second = await queue(store, ScriptSpec("true", 5), owner_id=gone)
        claimed = await job_queue.claim_many(store, "r1", limit=2)
        assert {c.id for c in claimed} == {first, second}
        await entities.delete_object(store, gone)
        ends = {
            first: Outcome(JobStatus.FAILED, {"exitCode": 2}, sets_state=5),
            second: Outcome(JobStatus.SUCCEEDED, {"exitCode": 0}, sets_state=3),
        }
        assert await job_queue.finish_many(store, "r1", ends) == 2
        assert await _state(store, host) == 5
        # Finished already: a second report of the same end changes nothing more.
        assert await job_queue.finish_many(store, "r1", ends) == 0
        async with store.read() as conn:
            rows = (await conn.execute(select(state_history.c.job_id))).scalars().all()
        assert sorted(rows, key=str) == sorted([None, None, first], key=str)


async def test_an_mqtt_check_sets_published_then_failed(database_url):
    broker = os.environ.get("OPSJOBS_TEST_MQTT_URL")
    if not broker:
        pytest.skip("set OPSJOBS_TEST_MQTT_URL to test against a real MQTT broker")
    mapping = {"published": 3, "failed": 8}
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="h", parent_ids=["1"]))["id"]
        async with started_runner(store, runner_settings(database_url, mqtt_url=broker)):
            job_id = await queue(
                store, MqttSpec("opsjobs/check", "x", sets_state=mapping), owner_id=host
            )
            assert (await wait_status(store, job_id, timeout=30))["execution"][
                "status"
            ] == "succeeded"
        assert await _state(store, host) == 3
        unreachable = f"mqtt://127.0.0.1:{free_port()}"
        async with started_runner(store, runner_settings(database_url, mqtt_url=unreachable)):
            job_id = await queue(
                store, MqttSpec("opsjobs/check", "x", sets_state=mapping), owner_id=host
            )
            assert (await wait_status(store, job_id, timeout=30))["execution"]["status"] == "failed"
        assert await _state(store, host) == 8
