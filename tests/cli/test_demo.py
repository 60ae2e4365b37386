"""`opsjobs demo`, in process, on SQLite and PostgreSQL: what it makes, that its jobs are real
runs with real output, and that running it again makes nothing twice."""

from __future__ import annotations

import asyncio
import os
import re
import socket

import aiomqtt
import orjson
import pytest
from sqlalchemy import func, select

import log_secrets
from conftest import IN_CI, settings_for_test
from opsjobs.cli.demo import ADMIN, VIEWER, DemoLogins, ensure_demo, print_logins
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.execution.mqtt import parse_broker
from opsjobs.store import operations, users
from opsjobs.store.core import Store
from opsjobs.store.schema import jobs, links, objects
from opsjobs.store.schema import operations as operation_rows

MQTT_URL = os.environ.get("OPSJOBS_TEST_MQTT_URL")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mqtt_url() -> str:
    if not MQTT_URL:
        if IN_CI:
            pytest.fail("CI=true needs OPSJOBS_TEST_MQTT_URL: the MQTT broker is not optional")
        pytest.skip("set OPSJOBS_TEST_MQTT_URL to test against a real MQTT broker")
    return MQTT_URL


@pytest.fixture
async def store(backend, database_url):
    opened = Store(database_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _settings(database_url: str, mqtt_url: str):
    return settings_for_test(database_url, mqtt_url=mqtt_url, mqtt_connect_timeout_seconds=3)


async def _demo(store: Store, passwords, settings) -> DemoLogins:
    """``ensure_demo``, its passwords searched for in every log line (log_secrets.py)."""
    logins = await ensure_demo(store, passwords, settings)
    log_secrets.register_password(ADMIN, logins.admin_password)
    log_secrets.register_password(VIEWER, logins.viewer_password)
    return logins


async def _counts(store: Store) -> dict[str, int]:
    async with store.read() as conn:
        return {
            table.name: (await conn.execute(select(func.count()).select_from(table))).scalar()
            for table in (objects, links, operation_rows, jobs)
        } | {"users": len(await users.list_users(store))}


async def _job(store: Store, job_id: str) -> dict:
    row = await store.job_row(job_id)
    return {
        "status": row.status,
        "runner": row.runner,
        "error": row.error,
        "description": orjson.loads(row.description),
        "user_id": row.user_id,
        "process_meta": orjson.loads(row.process_meta or "null"),
    }


async def test_the_demo_runs_its_operations_for_real(store, database_url, passwords, mqtt_url):
    broker = parse_broker(mqtt_url)
    async with aiomqtt.Client(broker.host, broker.port) as subscriber:
        await subscriber.subscribe("opsjobs/demo/+/hello", qos=1)
        logins = await _demo(store, passwords, _settings(database_url, mqtt_url))
        async with asyncio.timeout(5):
            message = await anext(aiter(subscriber.messages))
    runs = {(r.object_name, r.operation_name): r for r in logins.runs}
    assert set(runs) == {
        ("web-1", "System status"),
        ("web-1", "Greet"),
        ("web-1", "Announce"),
        ("db-1", "System status"),
        ("db-1", "System status (trigger: db-1 in Alarm)"),
    }
    admin = store.directory.principal_by_login(ADMIN)
    for run in logins.runs:
        job = await _job(store, run.job_id)
        assert job["status"] == run.status == "succeeded", job
        # Run by a real runner of this process, as admin (or by the trigger): no canned row.
        assert job["runner"] == f"{socket.gethostname()}/{os.getpid()}"
        triggered = "trigger" in run.operation_name
        assert job["user_id"] == (None if triggered else admin.id)
        assert (job["process_meta"] or {}).get("triggerStates") == ([5] if triggered else None)
    status = await _job(store, runs["web-1", "System status"].job_id)
    assert "load average" in status["description"]["stdout"]
    assert "Filesystem" in status["description"]["stdout"]
    assert status["description"]["exitCode"] == 0
    greet = await _job(store, runs["web-1", "Greet"].job_id)
    assert greet["description"]["stdout"] == "Hello, world, from 10.0.0.11\n"
    assert runs["web-1", "Greet"].summary == "Hello, world, from 10.0.0.11"
    announce = await _job(store, runs["web-1", "Announce"].job_id)
    assert message.topic.value == announce["description"]["topic"]
    assert message.payload == b"hello from admin on web-1 (10.0.0.11)"
    assert logins.job_id == runs["web-1", "System status"].job_id


async def test_the_mqtt_run_fails_honestly_without_a_broker(store, database_url, passwords):
    settings = _settings(database_url, f"mqtt://127.0.0.1:{_closed_port()}")
    logins = await _demo(store, passwords, settings)
    announce = next(r for r in logins.runs if r.operation_name == "Announce")
    job = await _job(store, announce.job_id)
    assert job["status"] == announce.status == "failed"
    assert "unreachable" in job["error"] and announce.summary == job["error"]
    others = [r.status for r in logins.runs if r is not announce]
    assert others == ["succeeded"] * 4


async def test_the_demo_objects_carry_validated_operations_the_viewer_may_run(
    store, database_url, passwords
):
    logins = await _demo(store, passwords, _settings(database_url, "mqtt://127.0.0.1:1"))
    directory = store.directory
    viewer, admin = directory.principal_by_login(VIEWER), directory.principal_by_login(ADMIN)
    web_id = re.search(r"/objects/(\w+)/", logins.execute_path).group(1)
    listed = await operations.list_operations(store, "object", web_id)
    by_name = {op["name"]: op for op in listed}
    assert set(by_name) == {"System status", "Greet", "Announce"}
    assert by_name["Announce"]["type"] == 1 and by_name["System status"]["type"] == 2
    declared = by_name["Greet"]["parameters"]["arguments"]["name"]
    assert declared["pattern"] and declared["default"] == "world"
    assert logins.execute_path.endswith(f"/operations/{by_name['Greet']['id']}/execute")
    assert directory.can_see_object(viewer, web_id)
    assert viewer.rights.has_any("execute-operations")
    assert admin.rights.permissions == frozenset(PERMISSIONS)
    db_job = next(r.job_id for r in logins.runs if r.object_name == "db-1")
    db_id = (await store.job_row(db_job)).owner_id
    assert not directory.can_see_object(viewer, db_id)
    assert directory.can_see_object(admin, db_id)


async def test_a_second_demo_makes_nothing_twice_and_changes_the_passwords(
    store, database_url, passwords
):
    settings = _settings(database_url, "mqtt://127.0.0.1:1")
    first = await _demo(store, passwords, settings)
    counts = await _counts(store)
    assert counts == {"objects": 6, "links": 1, "operations": 4, "jobs": 5, "users": 2}
    second = await _demo(store, passwords, settings)
    assert await _counts(store) == counts
    assert [r.job_id for r in second.runs] == [r.job_id for r in first.runs]
    assert second.execute_path == first.execute_path
    assert second.admin_password != first.admin_password
    for login, password in ((ADMIN, second.admin_password), (VIEWER, second.viewer_password)):
        principal = store.directory.principal_by_login(login)
        assert passwords.verify(principal.password_hash, password)


async def test_a_demo_made_incomplete_is_completed_and_only_the_missing_part_runs(
    store, database_url, passwords
):
    settings = _settings(database_url, "mqtt://127.0.0.1:1")
    first = await _demo(store, passwords, settings)
    web_id = re.search(r"/objects/(\w+)/", first.execute_path).group(1)
    greet_id = re.search(r"/operations/(\w+)/", first.execute_path).group(1)
    await operations.delete_operation(store, "object", web_id, greet_id)
    second = await _demo(store, passwords, settings)
    changed = [
        (a.operation_name, a.job_id != b.job_id)
        for a, b in zip(first.runs, second.runs, strict=True)
    ]
    assert changed == [
        ("System status", False),
        ("Greet", True),
        ("Announce", False),
        ("System status", False),
        ("System status (trigger: db-1 in Alarm)", False),
    ]
    assert second.execute_path != first.execute_path
    greet = next(r for r in second.runs if r.operation_name == "Greet")
    assert (await _job(store, greet.job_id))["status"] == "succeeded"
    assert (await _counts(store))["jobs"] == 6


async def test_the_printed_commands_name_the_job_and_the_operation(
    store, database_url, passwords, capsys
):
    logins = await _demo(store, passwords, _settings(database_url, "mqtt://127.0.0.1:1"))
    print_logins(logins, "127.0.0.1:9999")
    printed = capsys.readouterr().out
    base = "http://127.0.0.1:9999/node/api"
    assert f"a job:           {logins.job_id}" in printed
    assert f"curl -u admin:{logins.admin_password} {base}/jobs/{logins.job_id}" in printed
    execute = re.search(r"job=\$\(curl -s -u viewer:(\S+) -X POST (\S+) ", printed)
    assert execute.groups() == (
        logins.viewer_password,
        f"http://127.0.0.1:9999{logins.execute_path}",
    )
    assert f"curl -u viewer:{logins.viewer_password} {base}/jobs/$job" in printed
    for run in logins.runs:
        assert re.search(
            rf"{run.job_id}\s+{run.object_name}\s+{re.escape(run.operation_name)}\s+{run.status}",
            printed,
        )
    assert f"""-X PATCH {base}/objects/{logins.db_id} -d '{{"state_id": 5}}'""" in printed
