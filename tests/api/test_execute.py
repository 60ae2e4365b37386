"""Executing an operation (docs/api.md §10): rights, argument rendering, the queued job and its
spec, idempotency. The app here runs no runner, so every job stays ``queued`` to be looked at.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import fields

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from conftest import Api, lifespan
from conftest import settings_for_test as make_settings
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.config import Settings
from opsjobs.domain.ids import id_seconds, is_object_id
from opsjobs.domain.spec import ExecSpec, MqttSpec, ScriptSpec, load_spec
from opsjobs.store.schema import jobs

DEFAULT_TIMEOUT = 17


@pytest.fixture
async def api(database_url, door) -> AsyncIterator[Api]:  # noqa: F811 (the fixture's)
    # No embedded runner (where the setting exists): the jobs must stay queued for the checks.
    no_runner = (
        {"embedded_runner": False}
        if "embedded_runner" in {f.name for f in fields(Settings)}
        else {}
    )
    settings = make_settings(
        database_url,
        default_timeout_seconds=DEFAULT_TIMEOUT,
        front_door=door == "front",
        **no_runner,
    )
    ctx = Context.create(settings)
    app = server_app(context=ctx)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, ctx)


def assert_error(response, status: int, code: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    if message is not None:
        assert body["message"] == message
    return body


async def job_count(api) -> int:
    async with api.store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(jobs))).scalar_one()


async def job_row(api, job_id: str):
    async with api.store.read() as conn:
        return (await conn.execute(select(jobs).where(jobs.c.id == job_id))).one()


async def add_operation(api, headers, owner: str, document: dict, kind: str = "objects") -> str:
    response = await api.client.post(
        f"/node/api/{kind}/{owner}/operations", json=document, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def script_op(text: str, **parameters) -> dict:
    return {
        "name": "Script",
        "type": 2,
        "parameters": {"type": "scriptText", "text": text, **parameters},
    }


async def execute(api, headers, owner: str, operation: str, kind: str = "objects", **kwargs):
    return await api.client.post(
        f"/node/api/{kind}/{owner}/operations/{operation}/execute", headers=headers, **kwargs
    )


@pytest.fixture
async def world(api):
    """An admin, a host with properties, and an executor who may see it."""
    admin = await api.admin()
    created = await api.client.post(
        "/node/api/objects",
        json={"name": "web-1", "properties": [{"name": "ip", "value": "10.0.0.11"}]},
        headers=admin,
    )
    host = created.json()["id"]
    executor = await api.user("operator", permissions=["execute-operations"], include=[host])
    return admin, host, executor


# -- the job --------------------------------------------------------------------------------


async def test_execute_records_a_queued_job(api, backend, world):
    admin, host, executor = world
    operation = await add_operation(api, admin, host, script_op("ping -c1 {{properties.ip}}"))
    response = await execute(api, executor, host, operation)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    job_id = response.json()
    assert is_object_id(job_id)

    job = (await api.client.get(f"/node/api/jobs/{job_id}", headers=executor)).json()
    user_id = api.store.directory.by_login["operator"]
    assert job["id"] == job_id
    assert job["description"] == {}
    assert job["execution"]["status"] == "queued"
    assert job["execution"]["started"] is None and job["execution"]["finished"] is None
    assert (job["owner_id"], job["owner_type"], job["operation_id"]) == (host, 1, operation)
    assert job["user_id"] == user_id
    assert job["process_meta"] is None and job["results"] == []
    assert abs(job["timestamp"] // 1000 - id_seconds(job_id)) <= 1

    row = await job_row(api, job_id)
    assert row.operation_name == "Script"
    assert row.runner_tag is None and row.idempotency_key is None
    assert load_spec(row.spec) == ScriptSpec(
        text='ping -c1 "${OPSJOBS_V1}"', timeout=DEFAULT_TIMEOUT, env={"OPSJOBS_V1": "10.0.0.11"}
    )

    history = (await api.client.get(f"/node/api/objects/{host}/jobs", headers=executor)).json()
    assert [(j["id"], j["operation"]) for j in history] == [(job_id, {"name": "Script"})]


async def test_a_link_operation_makes_a_link_job(api, backend, world):
    admin, host, _ = world
    link = await api.link(host, await api.object("db-1"))
    operation = await add_operation(
        api,
        admin,
        link,
        {"name": "Trace", "type": 1, "parameters": {"topic": "links/{{id}}", "message": "go"}},
        "links",
    )
    response = await execute(api, admin, link, operation, "links")
    assert response.status_code == 200, response.text
    job = (await api.client.get(f"/node/api/jobs/{response.json()}", headers=admin)).json()
    assert (job["owner_id"], job["owner_type"]) == (link, 2)
    row = await job_row(api, job["id"])
    assert load_spec(row.spec) == MqttSpec(topic=f"links/{link}", message="go")


async def test_an_inherited_operation_runs_for_the_entity(api, backend, world):
    admin, host, executor = world
    klass = await api.client.post(
        "/node/api/classes",
        json={"name": "Linux", "operations": [script_op("echo {{id}} {{user.login}}")]},
        headers=admin,
    )
    operation = klass.json()["operations"][0]["id"]
    await api.client.patch(
        f"/node/api/objects/{host}", json={"class_id": klass.json()["id"]}, headers=admin
    )
    response = await execute(api, executor, host, operation)
    assert response.status_code == 200, response.text
    row = await job_row(api, response.json())
    assert row.owner_id == host
    spec = load_spec(row.spec)
    assert spec.text == 'echo "${OPSJOBS_V1}" "${OPSJOBS_V2}"'
    assert spec.env == {"OPSJOBS_V1": host, "OPSJOBS_V2": "operator"}


# -- the spec of each kind of operation -----------------------------------------------------


async def test_spec_of_a_file_system_operation(api, backend, world):
    admin, host, _ = world
    operation = await add_operation(
        api,
        admin,
        host,
        {
            "name": "Ping",
            "type": 2,
            "parameters": {
                "type": "fileSystem",
                "path": "/bin/ping",
                "args": ["-c", "{{args.count}}", "{{properties.ip}}", "{{args.note}}"],
                "timeout": 2.5,
                "runner": "dmz",
            },
        },
    )
    response = await execute(
        api, admin, host, operation, json={"count": 3, "note": "a b; rm -rf /"}
    )
    row = await job_row(api, response.json())
    assert load_spec(row.spec) == ExecSpec(
        argv=["/bin/ping", "-c", "3", "10.0.0.11", "a b; rm -rf /"], timeout=2.5
    )
    assert row.runner_tag == "dmz"


async def test_spec_of_a_script_text_operation_holds_values_only_in_its_environment(
    api, backend, world
):
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op('echo {{args.x}} "{{args.x}}"'))
    response = await execute(api, admin, host, operation, json={"x": "$(reboot)'"})
    spec = load_spec((await job_row(api, response.json())).spec)
    assert spec.text == 'echo "${OPSJOBS_V1}" "${OPSJOBS_V1}"'
    assert spec.env == {"OPSJOBS_V1": "$(reboot)'"}


async def test_spec_of_an_mqtt_operation_is_raw(api, backend, world):
    admin, host, _ = world
    operation = await add_operation(
        api,
        admin,
        host,
        {
            "name": "Notify",
            "type": 1,
            "parameters": {
                "topic": "hosts/{{id}}/cmd",
                "message": '{"by": "{{user.login}}", "x": {{args.x}}}',
            },
        },
    )
    response = await execute(api, admin, host, operation, json={"x": [1, "two"]})
    spec = load_spec((await job_row(api, response.json())).spec)
    assert spec == MqttSpec(topic=f"hosts/{host}/cmd", message='{"by": "admin", "x": [1,"two"]}')


async def test_spec_of_a_script_reference_is_the_script_as_it_was(api, backend, world):
    admin, host, _ = world
    script = (
        await api.client.post(
            "/node/api/scripts", json={"name": "say", "text": "echo {{args.word}}"}, headers=admin
        )
    ).json()
    operation = await add_operation(
        api,
        admin,
        host,
        {"name": "Say", "type": 2, "parameters": {"type": "scriptReference", "ref": script["id"]}},
    )
    response = await execute(api, admin, host, operation, json={"word": "hello world"})
    await api.client.patch(
        f"/node/api/scripts/{script['id']}", json={"text": "rm -rf /"}, headers=admin
    )
    spec = load_spec((await job_row(api, response.json())).spec)
    assert spec == ScriptSpec(
        text='echo "${OPSJOBS_V1}"', timeout=DEFAULT_TIMEOUT, env={"OPSJOBS_V1": "hello world"}
    )

    await api.client.delete(f"/node/api/scripts/{script['id']}", headers=admin)
    before = await job_count(api)
    assert_error(
        await execute(api, admin, host, operation),
        400,
        "BadRequest",
        f"parameters.ref: no such script {script['id']}",
    )
    assert await job_count(api) == before


# -- bad requests create nothing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "body", "message"),
    [
        ("ping {{args.host}}", None, "Template variable has no value: args.host"),
        ("ping {{args.host}}", {"host": None}, "Template variable has no value: args.host"),
        ("ping {{properties.dns}}", {}, "Template variable has no value: properties.dns"),
        ("ping {{args.host}}", {"host": "a\0b"}, None),
        ("ping {{args.host}}", {"host": "--flood"}, None),
    ],
)
async def test_a_render_failure_is_400_and_no_job(api, backend, world, text, body, message):
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op(text))
    response = await execute(api, admin, host, operation, json=body)
    error = assert_error(response, 400, "BadRequest", message)
    assert "args.host" in error["message"] or "properties.dns" in error["message"]
    assert await job_count(api) == 0


async def test_arguments_must_be_a_json_object(api, backend, world):
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op("true"))
    error = assert_error(await execute(api, admin, host, operation, json=["x"]), 400, "BadRequest")
    assert error["message"].startswith("body: ")
    assert_error(
        await execute(api, admin, host, operation, content=b"{nope"), 400, "InvalidContent"
    )
    assert await job_count(api) == 0
    # No body at all, or an empty object, is no arguments.
    assert (await execute(api, admin, host, operation)).status_code == 200
    assert (await execute(api, admin, host, operation, json={})).status_code == 200
    # curl -d sends a form content type with a JSON body; it is read as JSON all the same.
    form = {"content-type": "application/x-www-form-urlencoded", **admin}
    assert (await execute(api, form, host, operation, content=b'{"a": 1}')).status_code == 200


# -- rights ---------------------------------------------------------------------------------


async def test_credentials_sight_and_permission_come_before_the_body(api, backend, world):
    """A request the caller may not make is refused as such, whatever its body holds."""
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op("true"))
    broken = {"content": b"{nope"}
    assert_error(await execute(api, {}, host, operation, **broken), 401, "Unauthorized")
    outsider = await api.user("outsider", permissions=["execute-operations"])
    assert_error(await execute(api, outsider, host, operation, **broken), 404, "ResourceNotFound")
    watcher = await api.user("watcher", include=[host])
    assert_error(await execute(api, watcher, host, operation, **broken), 403, "Forbidden")
    assert await job_count(api) == 0


async def test_rights_are_checked_in_order(api, backend, world):
    admin, host, executor = world
    hidden = await api.object("hidden")
    operation = await add_operation(api, admin, host, script_op("true"))
    hidden_op = await add_operation(api, admin, hidden, script_op("true"))
    viewer = await api.user("viewer", permissions=["manage-objects"], include=[host])
    missing = "0123456789abcdef01234567"

    assert_error(await execute(api, {}, host, operation), 401, "Unauthorized")
    # Not visible: 404 whatever the permissions (the executor cannot see `hidden`).
    for target, op in ((hidden, hidden_op), (missing, operation), ("not-an-id", operation)):
        assert_error(
            await execute(api, executor, target, op),
            404,
            "ResourceNotFound",
            f"Entity not found: Object({target})",
        )
    assert_error(
        await execute(api, executor, "not-a-link", operation, "links"),
        404,
        "ResourceNotFound",
        "Entity not found: Link(not-a-link)",
    )
    # Visible, without execute-operations: 403, even for an operation that does not exist.
    for op in (operation, missing):
        assert_error(
            await execute(api, viewer, host, op),
            403,
            "Forbidden",
            "Required permissions: execute-operations",
        )
    # Visible and permitted, but no such operation of this object.
    for op in (missing, "nope", hidden_op):
        assert_error(
            await execute(api, executor, host, op),
            404,
            "ResourceNotFound",
            f"Entity not found: Operation({op})",
        )
    assert await job_count(api) == 0


# -- idempotency ----------------------------------------------------------------------------


async def test_a_retried_request_answers_the_first_job(api, backend, world):
    admin, host, executor = world
    operation = await add_operation(api, admin, host, script_op("echo {{args.n}}"))
    key = {"Idempotency-Key": "retry-1"}
    first = await execute(api, {**executor, **key}, host, operation, json={"n": 1})
    second = await execute(api, {**executor, **key}, host, operation, json={"n": 1})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert await job_count(api) == 1
    assert (await job_row(api, first.json())).idempotency_key == "retry-1"

    # Another user's key is another key; no key is never a replay.
    other = await execute(api, {**admin, **key}, host, operation, json={"n": 1})
    assert other.json() != first.json()
    third = await execute(api, executor, host, operation, json={"n": 1})
    fourth = await execute(api, executor, host, operation, json={"n": 1})
    assert len({first.json(), other.json(), third.json(), fourth.json()}) == 4


async def test_a_replay_needs_no_rendering(api, backend, world):
    admin, host, executor = world
    operation = await add_operation(api, admin, host, script_op("echo {{args.n}}"))
    key = {"Idempotency-Key": "k"}
    first = await execute(api, {**executor, **key}, host, operation, json={"n": 1})
    # The operation changed since; the retry still answers the job the first request made.
    await api.client.patch(
        f"/node/api/objects/{host}/operations/{operation}",
        json={"parameters": {"text": "echo {{args.other}}"}},
        headers=admin,
    )
    again = await execute(api, {**executor, **key}, host, operation, json={"n": 1})
    assert again.json() == first.json()


async def test_a_key_reused_for_another_operation_is_a_conflict(api, backend, world):
    admin, host, executor = world
    first_op = await add_operation(api, admin, host, script_op("true"))
    second_op = await add_operation(api, admin, host, script_op("false"))
    key = {"Idempotency-Key": "once"}
    assert (await execute(api, {**executor, **key}, host, first_op)).status_code == 200
    assert_error(await execute(api, {**executor, **key}, host, second_op), 409, "Conflict")
    assert await job_count(api) == 1


async def test_concurrent_duplicates_make_one_job(api, backend, world):
    admin, host, executor = world
    operation = await add_operation(api, admin, host, script_op("echo {{args.n}}"))
    headers = {**executor, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(execute(api, headers, host, operation, json={"n": 1}) for _ in range(12))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.json() for r in responses}) == 1
    assert await job_count(api) == 1


async def test_an_idempotency_key_is_at_most_255_characters(api, backend, world):
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op("true"))
    response = await execute(api, {**admin, "Idempotency-Key": "k" * 256}, host, operation)
    assert_error(response, 400, "BadRequest", "Idempotency-Key: must be 1 to 255 characters")
    ok = await execute(api, {**admin, "Idempotency-Key": "k" * 255}, host, operation)
    assert ok.status_code == 200


async def test_execution_answers_in_the_seed_page_shape(api, backend, world):
    # The answer is a bare JSON string, as SAYMON's clients expect.
    admin, host, _ = world
    operation = await add_operation(api, admin, host, script_op("true"))
    response = await execute(api, admin, host, operation)
    assert orjson.loads(response.content) == response.json()
    assert response.content == b'"' + response.json().encode() + b'"'


# -- the arguments a run takes (GET .../operations/{operation_id}/arguments) ---------------


async def test_arguments_are_the_declared_ones_then_those_the_templates_use(api, backend, world):
    admin, host, executor = world
    declared = {
        "name": {"type": "string", "default": "world", "description": "who"},
        "count": {"type": "integer", "required": True},
    }
    operation = await add_operation(
        api,
        admin,
        host,
        script_op('echo "{{args.name}}" "{{args.count}}" {{id}}', arguments=declared),
    )
    response = await api.client.get(
        f"/node/api/objects/{host}/operations/{operation}/arguments", headers=executor
    )
    assert response.status_code == 200, response.text
    assert response.json() == [
        {"name": "name", "declared": True, **declared["name"]},
        {"name": "count", "declared": True, **declared["count"]},
    ]
    free = await add_operation(
        api, admin, host, script_op('echo "{{args.b}}" "{{args.a}}" "{{args.b}}" "{{user.id}}"')
    )
    response = await api.client.get(
        f"/node/api/objects/{host}/operations/{free}/arguments", headers=executor
    )
    assert response.json() == [
        {"name": "b", "declared": False},
        {"name": "a", "declared": False},
    ]


async def test_arguments_of_a_stored_script_mqtt_and_argv(api, backend, world):
    admin, host, executor = world
    script = await api.client.post(
        "/node/api/scripts", json={"name": "say", "text": "echo {{args.word}}"}, headers=admin
    )
    ref = {
        "name": "Ref",
        "type": 2,
        "parameters": {"type": "scriptReference", "ref": script.json()["id"]},
    }
    mqtt = {
        "name": "Pub",
        "type": 1,
        "parameters": {"topic": "a/{{args.t}}", "message": "{{args.m}}"},
    }
    argv = {
        "name": "Ls",
        "type": 2,
        "parameters": {"type": "fileSystem", "path": "/bin/ls", "args": ["{{args.dir}}"]},
    }
    for document, names in ((ref, ["word"]), (mqtt, ["t", "m"]), (argv, ["dir"])):
        operation = await add_operation(api, admin, host, document)
        response = await api.client.get(
            f"/node/api/objects/{host}/operations/{operation}/arguments", headers=executor
        )
        assert response.status_code == 200, response.text
        assert [a["name"] for a in response.json()] == names


async def test_arguments_refusals(api, backend, world):
    admin, host, executor = world
    operation = await add_operation(api, admin, host, script_op("echo {{args.x}}"))
    path = f"/node/api/objects/{host}/operations/{operation}/arguments"
    assert_error(await api.client.get(path), 401, "Unauthorized")
    reader = await api.user("reader", permissions=[], include=[host])
    assert_error(await api.client.get(path, headers=reader), 403, "Forbidden")
    stranger = await api.user("stranger", permissions=["execute-operations"], include=[])
    assert_error(await api.client.get(path, headers=stranger), 404, "ResourceNotFound")
    other = await api.client.post("/node/api/objects", json={"name": "other"}, headers=admin)
    elsewhere = f"/node/api/objects/{other.json()['id']}/operations/{operation}/arguments"
    assert_error(await api.client.get(elsewhere, headers=admin), 404, "ResourceNotFound")
    for hostile in ("not-an-id", "..%2f..%2fetc", "%27%20OR%201=1"):
        response = await api.client.get(
            f"/node/api/objects/{host}/operations/{hostile}/arguments", headers=executor
        )
        assert_error(response, 404, "ResourceNotFound")
