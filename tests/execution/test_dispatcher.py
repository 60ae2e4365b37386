"""The dispatcher in the server as it runs: a state change through the API starts a job that
the embedded runner runs, or an e-mail a real SMTP server receives, with nobody calling the
dispatcher or the sender by hand."""

from __future__ import annotations

import asyncio
import time

import orjson
from sqlalchemy import select

from helpers import app_client
from helpers.smtp import Inbox, smtp_server
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import operations, triggers
from opsjobs.store.schema import trigger_deliveries


async def wait_for_job(api, headers: dict, host: str, status: str, seconds: float = 30) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        response = await api.client.post(
            "/node/api/jobs", json={"objects": [host]}, headers=headers
        )
        assert response.status_code == 200, response.text
        done = [j for j in response.json() if j["execution"]["status"] == status]
        if done or time.monotonic() > deadline:
            assert done, f"no {status} job: {response.json()}"
            return done[0]
        await asyncio.sleep(0.05)


async def test_a_state_change_through_the_api_runs_the_triggered_operation(api):
    admin = await api.admin()
    host = await api.object("web-1")
    document = {
        "name": "restart",
        "type": 2,
        "parameters": {"type": "scriptText", "text": "echo restarting {{id}}"},
    }
    restart = await operations.create_operation(api.store, "object", host, document)
    alarm = {"states": [5], "type": "operation", "payload": {"operation": restart["id"]}}
    await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [alarm])
    response = await api.client.patch(
        f"/node/api/objects/{host}", json={"state_id": 5}, headers=admin
    )
    assert response.status_code == 200, response.text
    job = await wait_for_job(api, admin, host, "succeeded")
    assert job["user_id"] is None and job["operation_id"] == restart["id"]
    assert job["process_meta"]["triggerStates"] == [5]
    assert job["description"]["stdout"] == f"restarting {host}\n"
    assert orjson.dumps(job["process_meta"]["stateChange"]["to"]) == b"5"


async def test_a_duration_fires_when_it_is_reached_without_a_wake_up(api):
    admin = await api.admin()
    host = await api.object("db-1")
    document = {"name": "page", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}
    page = await operations.create_operation(api.store, "object", host, document)
    held = {"states": [8], "type": "operation", "payload": {"operation": page["id"]}}
    await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [{**held, "duration": 700}])
    started = time.monotonic()
    response = await api.client.patch(
        f"/node/api/objects/{host}", json={"state_id": 8}, headers=admin
    )
    assert response.status_code == 200
    job = await wait_for_job(api, admin, host, "succeeded")
    assert time.monotonic() - started >= 0.7
    assert job["process_meta"]["firing"]["dueAt"] - job["process_meta"]["stateChange"]["at"] == 700


async def test_an_e_mail_trigger_reaches_a_real_smtp_server(database_url):
    inbox = Inbox()
    async with smtp_server(inbox) as port:
        overrides = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
        async with app_client(database_url, smtp_from="ops@example.org", **overrides) as api:
            admin = await api.admin()
            host = await api.object("mail-1")
            mail = {"states": [8], "type": "e-mail", "payload": {"to": "noc@example.org"}}
            await triggers.put_triggers(api.store, EntityKind.OBJECT, host, [mail])
            response = await api.client.patch(
                f"/node/api/objects/{host}", json={"state_id": 8}, headers=admin
            )
            assert response.status_code == 200
            deadline = time.monotonic() + 30
            while not inbox.envelopes and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            (envelope,) = inbox.envelopes
            assert envelope.rcpt_tos == ["noc@example.org"]
            message = inbox.message()
            text = message["Subject"] + message.get_content()
            assert "mail-1" in text and "Down" in text
            async with api.store.read() as conn:
                (row,) = (await conn.execute(select(trigger_deliveries))).all()
            while row.status != "delivered" and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                async with api.store.read() as conn:
                    (row,) = (await conn.execute(select(trigger_deliveries))).all()
            assert (row.type, row.status, row.owner_id) == ("e-mail", "delivered", host)


async def test_a_schedule_made_through_the_api_runs_as_its_owner(api):
    """The dispatcher sleeps until the earlier of firings and schedules: a 1 s schedule runs
    and the embedded runner runs its job, with nobody calling anything by hand."""
    admin = await api.admin()
    host = await api.object("cron-1")
    document = {
        "name": "tick",
        "type": 2,
        "parameters": {"type": "scriptText", "text": "echo tick"},
    }
    tick = await operations.create_operation(api.store, "object", host, document)
    body = {"name": "tick", "operation": tick["id"], "target": {"object": host}, "interval": 1}
    response = await api.client.post("/node/api/schedules", json=body, headers=admin)
    assert response.status_code == 200, response.text
    schedule = response.json()
    job = await wait_for_job(api, admin, host, "succeeded")
    assert job["user_id"] == schedule["owner"]
    assert job["process_meta"]["schedule"]["id"] == schedule["id"]
    assert job["description"]["stdout"] == "tick\n"
