"""service/execute.py against a real store: the one way a job comes to be, called the way
the execute routes and ``opsjobs exec`` call it (the routes' own tests are tests/test_execute.py)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from helpers.execution import opened_store
from opsjobs.domain.errors import BadRequest, Conflict, NotFound
from opsjobs.domain.spec import ScriptSpec, load_spec
from opsjobs.service.execute import (
    Requester,
    RunRequest,
    entity_kind,
    execute_operation,
    requester_by_login,
)
from opsjobs.store import entities, operations, scripts, users
from opsjobs.store.schema import jobs

TIMEOUT = 60


def script(text: str) -> dict:
    return {"name": "greet", "type": 2, "parameters": {"type": "scriptText", "text": text}}


@pytest.fixture
async def world(backend, database_url):
    """A store with an object (and a link to it), an operation of the object, and a user."""
    async with opened_store(database_url) as store:
        host = await entities.create_object(store, name="web-1", parent_ids=["1"])
        peer = await entities.create_object(store, name="web-2", parent_ids=["1"])
        link = await entities.create_link(store, source=host["id"], target=peer["id"])
        greet = await operations.create_operation(
            store, "object", host["id"], script("echo hello {{args.name}} from {{user.login}}")
        )
        user = await users.create_user(store, login="ops", password_hash="x")
        yield store, host["id"], link["id"], greet["id"], Requester(user["id"], "ops")


async def job_rows(store) -> list:
    async with store.read() as conn:
        return (await conn.execute(select(jobs).order_by(jobs.c.timestamp))).all()


def run_of(host: str, operation: str, requester: Requester, **options) -> RunRequest:
    return RunRequest("object", host, operation, requester, **options)


async def test_a_run_is_rendered_and_queued(world):
    store, host, _, greet, ops_user = world
    job_id = await execute_operation(
        store, run_of(host, greet, ops_user, args={"name": "you"}), default_timeout=TIMEOUT
    )
    (row,) = await job_rows(store)
    assert (row.id, row.status, row.owner_id, row.owner_type) == (job_id, "queued", host, 1)
    assert (row.operation_id, row.operation_name, row.user_id) == (greet, "greet", ops_user.id)
    spec = load_spec(row.spec)
    assert isinstance(spec, ScriptSpec) and spec.timeout == TIMEOUT
    assert sorted(spec.env.values()) == ["ops", "you"]  # values travel beside the text
    assert "you" not in spec.text and "ops" not in spec.text


async def test_a_refused_rendering_leaves_no_job(world):
    store, host, _, greet, ops_user = world
    with pytest.raises(BadRequest, match="Template variable has no value: args.name"):
        await execute_operation(store, run_of(host, greet, ops_user), default_timeout=TIMEOUT)
    with pytest.raises(NotFound, match=r"Entity not found: Operation\(nope\)"):
        await execute_operation(store, run_of(host, "nope", ops_user), default_timeout=TIMEOUT)
    assert await job_rows(store) == []


async def test_a_key_answers_its_first_job_and_refuses_another_target(world):
    store, host, _, greet, ops_user = world
    keyed = run_of(host, greet, ops_user, args={"name": "a"}, idempotency_key="k1")
    first = await execute_operation(store, keyed, default_timeout=TIMEOUT)
    # The retry is answered before anything is rendered: its arguments are not looked at.
    again = run_of(host, greet, ops_user, idempotency_key="k1")
    assert await execute_operation(store, again, default_timeout=TIMEOUT) == first
    other = await operations.create_operation(store, "object", host, script("true"))
    with pytest.raises(Conflict, match="Idempotency-Key: already used for another"):
        await execute_operation(
            store, run_of(host, other["id"], ops_user, idempotency_key="k1"),
            default_timeout=TIMEOUT,
        )  # fmt: skip
    # A key is the caller's own: another caller's "k1" is another job.
    user = await users.create_user(store, login="other", password_hash="x")
    theirs = run_of(host, other["id"], Requester(user["id"], "other"), idempotency_key="k1")
    second = await execute_operation(store, theirs, default_timeout=TIMEOUT)
    assert [row.id for row in await job_rows(store)] == [first, second]


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_a_key_out_of_bounds_is_refused(world, key):
    store, host, _, greet, ops_user = world
    run = run_of(host, greet, ops_user, args={"name": "a"}, idempotency_key=key)
    with pytest.raises(BadRequest, match="Idempotency-Key: must be 1 to 255 characters"):
        await execute_operation(store, run, default_timeout=TIMEOUT)
    assert await job_rows(store) == []


async def test_concurrent_requests_with_one_key_make_one_job(world):
    store, host, _, greet, ops_user = world
    run = run_of(host, greet, ops_user, args={"name": "a"}, idempotency_key="burst")
    answers = await asyncio.gather(
        *(execute_operation(store, run, default_timeout=TIMEOUT) for _ in range(12))
    )
    assert len(set(answers)) == 1
    async with store.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(jobs))).scalar_one() == 1


async def test_entity_kind_and_requester_name_what_exec_is_given(world):
    store, host, link, _, ops_user = world
    assert entity_kind(store, host) == "object"
    assert entity_kind(store, link) == "link"
    with pytest.raises(NotFound, match=r"Entity not found: Object or Link\(nothing\)"):
        entity_kind(store, "nothing")
    assert requester_by_login(store, "ops") == ops_user
    assert requester_by_login(store, None) == Requester(None, None)
    with pytest.raises(NotFound, match="no user with login 'nobody'"):
        requester_by_login(store, "nobody")


async def test_a_run_renders_what_the_database_holds_now(world, database_url):
    """On PostgreSQL the target of an earlier execute is kept and the insert checks it is
    unchanged: whatever another server changed since (the operation, the entity's
    properties, a referenced script, or deleted the operation) is what the next run sees."""
    store, host, _, greet, ops_user = world
    say = await scripts.create_script(store, name="say", text="echo one")
    said = await operations.create_operation(
        store,
        "object",
        host,
        {"name": "say", "type": 2, "parameters": {"type": "scriptReference", "ref": say["id"]}},
    )

    async def spec_of(operation: str, **args) -> ScriptSpec:
        run = run_of(host, operation, ops_user, args=args)
        job_id = await execute_operation(store, run, default_timeout=TIMEOUT)
        (row,) = [r for r in await job_rows(store) if r.id == job_id]
        return load_spec(row.spec)

    greeting = "echo hello {{args.name}} from {{user.login}} at {{properties.ip}}"
    assert (await spec_of(greet, name="a")).text.startswith("echo hello ")
    assert (await spec_of(said["id"])).text == "echo one"
    async with opened_store(database_url) as other:  # another server
        await operations.update_operation(
            other, "object", host, greet, {"parameters": {"type": "scriptText", "text": greeting}}
        )
        await scripts.update_script(other, say["id"], {"text": "echo two"})
    with pytest.raises(BadRequest, match="no value: properties.ip"):
        await spec_of(greet, name="a")
    assert (await spec_of(said["id"])).text == "echo two"
    async with opened_store(database_url) as other:
        await entities.update_object(other, host, {"properties": [{"name": "ip", "value": "10.1"}]})
    assert sorted((await spec_of(greet, name="a")).env.values()) == ["10.1", "a", "ops"]
    async with opened_store(database_url) as other:
        await entities.update_object(other, host, {"properties": [{"name": "ip", "value": "10.2"}]})
        await operations.delete_operation(other, "object", host, said["id"])
    assert sorted((await spec_of(greet, name="a")).env.values()) == ["10.2", "a", "ops"]
    with pytest.raises(NotFound, match=r"Operation\("):
        await spec_of(said["id"])


async def test_a_fresh_target_refused_as_changed_is_an_error_not_an_assert(world, monkeypatch):
    # The invariant holds without asserts (python -O strips them), and the error names the
    # run without its arguments, which may hold secrets and would reach the log.
    store, host, _, greet, ops_user = world
    refusals: list[bool] = []

    async def refused(store, run, target, default_timeout):
        refusals.append(target.cached)
        return None

    monkeypatch.setattr("opsjobs.service.execute._enqueue", refused)
    with pytest.raises(RuntimeError, match=f"object {host} operation {greet}") as raised:
        await execute_operation(
            store, run_of(host, greet, ops_user, args={"name": "s3cret"}), default_timeout=TIMEOUT
        )
    assert "s3cret" not in str(raised.value)
    assert refusals[-1] is False  # the second try was with a target read, not kept
    assert await job_rows(store) == []
