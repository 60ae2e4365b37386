"""State changes and ReadWrite property changes start jobs through their firings
(store/states.py, store/triggers.py, service/firing.py), each exactly once, timed by an
injected clock rather than by sleeping."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select, update

from helpers.execution import opened_store
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.operations import validate_new
from opsjobs.service.firing import fire_due
from opsjobs.store import classes, entities, operations, properties, states, triggers
from opsjobs.store.schema import classes as classes_table
from opsjobs.store.schema import jobs, trigger_deliveries, trigger_firings

OBJECT = EntityKind.OBJECT
MINUTE = 60_000


def script(name: str, text: str = "echo hi", **flags) -> dict:
    return {"name": name, "type": 2, "parameters": {"type": "scriptText", "text": text}, **flags}


@pytest.fixture
async def world(backend, database_url):
    """A store, an object with an operation ``restart``, and its triggers' setter."""
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="web-1", parent_ids=["1"]))["id"]
        restart = await operations.create_operation(store, "object", host, script("restart"))
        yield store, host, restart["id"]


async def rows(store, table, *where) -> list:
    async with store.read() as conn:
        return (await conn.execute(select(table).where(*where))).all()


async def fire(store, now: int) -> list:
    return await fire_due(store, default_timeout=60, late_after_ms=5000, now=now)


def on_alarm(operation_id: str, **timing) -> dict:
    return {"states": [5], "type": "operation", "payload": {"operation": operation_id}, **timing}


async def test_entering_a_trigger_state_runs_the_operation_once(world):
    store, host, restart = world
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(restart)])
    change = await states.set_state(store, OBJECT, host, 5)
    assert change.firings == 1
    done = await fire(store, change.timestamp)
    assert len(done) == 1
    (job,) = await rows(store, jobs, jobs.c.owner_id == host)
    assert (job.user_id, job.operation_id, job.status) == (None, restart, "queued")
    meta = orjson.loads(job.process_meta)
    assert meta["triggerStates"] == [5]
    assert meta["stateChange"] == {"id": change.id, "from": 1, "to": 5, "at": change.timestamp}
    assert meta["trigger"] == {
        "source": "object",
        "sourceId": host,
        "index": 0,
        "type": "operation",
    }
    assert meta["firing"]["late"] is False
    (delivery,) = await rows(store, trigger_deliveries)
    assert (delivery.status, delivery.job_id, delivery.type) == ("queued", job.id, "operation")
    assert await fire(store, change.timestamp + 10 * MINUTE) == []  # nothing twice
    assert len(await rows(store, jobs, jobs.c.owner_id == host)) == 1


async def test_another_state_runs_nothing(world):
    store, host, restart = world
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(restart)])
    change = await states.set_state(store, OBJECT, host, 4)
    assert change.firings == 0
    assert await fire(store, change.timestamp + MINUTE) == []
    assert await rows(store, jobs) == []


async def test_the_same_state_again_is_no_change(world):
    store, host, restart = world
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(restart)])
    assert await states.set_state(store, OBJECT, host, 5) is not None
    assert await states.set_state(store, OBJECT, host, 5) is None
    assert len(await rows(store, trigger_firings)) == 1


async def test_duration_waits_and_leaving_early_cancels(world):
    store, host, restart = world
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(restart, duration=MINUTE)])
    change = await states.set_state(store, OBJECT, host, 5)
    assert await fire(store, change.timestamp + MINUTE - 1) == []  # not yet
    await states.set_state(store, OBJECT, host, 3)  # left before the minute
    assert await rows(store, trigger_firings) == []
    assert await fire(store, change.timestamp + 2 * MINUTE) == []
    again = await states.set_state(store, OBJECT, host, 5)  # re-entering starts afresh
    assert await fire(store, again.timestamp + MINUTE - 1) == []
    assert len(await fire(store, again.timestamp + MINUTE)) == 1
    assert len(await rows(store, jobs)) == 1


async def test_a_change_due_already_acts_once_even_if_the_state_is_left_first(world):
    store, host, restart = world
    every_5 = on_alarm(restart, periodicity={"value": "5", "unit": "minutes"})
    await triggers.put_triggers(store, OBJECT, host, [every_5])
    await states.set_state(store, OBJECT, host, 5)
    await states.set_state(store, OBJECT, host, 3)  # before any dispatcher looked
    assert len(await fire(store, 2**42)) == 1
    assert await fire(store, 2**43) == []  # but it does not repeat
    assert len(await rows(store, jobs)) == 1


async def test_periodicity_repeats_while_the_state_holds_and_stops_on_leaving(world):
    store, host, restart = world
    every_5 = on_alarm(restart, periodicity={"value": "5", "unit": "minutes"})
    await triggers.put_triggers(store, OBJECT, host, [every_5])
    change = await states.set_state(store, OBJECT, host, 5)
    start = change.timestamp
    for n in range(3):
        assert len(await fire(store, start + n * 5 * MINUTE)) == 1
        assert await fire(store, start + n * 5 * MINUTE + 1) == []  # not before the next
    repeats = [orjson.loads(j.process_meta)["firing"]["repeat"] for j in await rows(store, jobs)]
    assert sorted(repeats) == [0, 1, 2]
    await states.set_state(store, OBJECT, host, 3)
    assert await fire(store, start + 60 * MINUTE) == []
    assert len(await rows(store, jobs)) == 3


async def test_a_firing_missed_while_nothing_ran_fires_once_late(backend, database_url):
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="db-1", parent_ids=["1"]))["id"]
        restart = (await operations.create_operation(store, "object", host, script("r")))["id"]
        every = on_alarm(restart, duration=MINUTE, periodicity={"value": "1", "unit": "minutes"})
        await triggers.put_triggers(store, OBJECT, host, [every])
        change = await states.set_state(store, OBJECT, host, 5)
    # The server is down for an hour: its firing and 59 repeats fall due meanwhile.
    async with opened_store(database_url) as store:
        later = change.timestamp + 61 * MINUTE
        (done,) = await fire(store, later)
        assert done.delivery["late"] is True
        assert await fire(store, later + 1) == []  # missed repeats are not made up for
        assert len(await fire(store, later + MINUTE)) == 1
        (first, second) = sorted(await rows(store, jobs), key=lambda j: j.timestamp)
        assert orjson.loads(first.process_meta)["firing"]["late"] is True


async def test_class_triggers_fire_for_the_class_entities(world):
    store, host, _ = world
    cls = await classes.create_class(store, name="web", operations=[validate_new(script("clean"))])
    clean = cls["operations"][0]["id"]
    await entities.update_object(store, host, {"class_id": cls["id"]})
    async with store.write() as conn:
        await conn.execute(
            update(classes_table)
            .where(classes_table.c.id == cls["id"])
            .values(triggers=orjson.dumps([on_alarm(clean)]).decode())
        )
    change = await states.set_state(store, OBJECT, host, 5)
    (done,) = await fire(store, change.timestamp)
    assert orjson.loads(done.job["process_meta"])["trigger"]["source"] == "class"
    assert done.job["operation_id"] == clean


async def test_a_script_trigger_runs_its_program_as_argv(world):
    store, host, _ = world
    trigger = {
        "states": [8],
        "type": "script",
        "payload": {"execPath": "/bin/echo", "execArgs": ["down:", "{{id}}"]},
    }
    await triggers.put_triggers(store, OBJECT, host, [trigger])
    change = await states.set_state(store, OBJECT, host, 8)
    (done,) = await fire(store, change.timestamp)
    spec = orjson.loads(done.job["spec"])
    assert spec["argv"] == ["/bin/echo", "down:", host]
    assert done.job["operation_id"] is None


async def test_a_firing_that_cannot_render_is_recorded_failed_once(world):
    store, host, _ = world
    needs_arg = await operations.create_operation(
        store, "object", host, script("needs", "echo {{args.who}}")
    )
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(needs_arg["id"])])
    change = await states.set_state(store, OBJECT, host, 5)
    (done,) = await fire(store, change.timestamp)
    assert done.job is None and done.delivery["status"] == "failed"
    assert "args.who" in done.delivery["detail"]
    assert await rows(store, jobs) == []
    assert await rows(store, trigger_firings) == []


async def test_a_read_write_change_runs_the_flagged_operations_only(world):
    store, host, restart = world
    flagged = await operations.create_operation(
        store,
        "object",
        host,
        script("apply", "echo {{properties.mode}}", runOnReadWritePropertyModification=True),
    )
    mode = await properties.add_property(
        store,
        "object",
        host,
        {"name": "mode", "value": "eco", "type_id": 3},
        user_id=None,
        on_service=None,
    )
    await properties.add_property(
        store,
        "object",
        host,
        {"name": "note", "value": "x", "type_id": 1},
        user_id=None,
        on_service=None,
    )
    assert await rows(store, trigger_firings) == []  # adding a property changes no value
    await properties.update_property(
        store, "object", host, mode["id"], {"value": "turbo"}, user_id=None, on_service=None
    )
    done = await fire(store, 2**62)
    assert [d.job["operation_id"] for d in done] == [flagged["id"]]
    meta = orjson.loads(done[0].job["process_meta"])
    assert meta["property"]["name"] == "mode"
    assert (meta["property"]["oldValue"], meta["property"]["value"]) == ("eco", "turbo")
    assert orjson.loads(done[0].job["spec"])["env"]  # the value went in as a variable
    assert restart not in {d.job["operation_id"] for d in done}


async def test_deleting_the_entity_drops_what_it_had_pending(world):
    store, host, restart = world
    await triggers.put_triggers(store, OBJECT, host, [on_alarm(restart, duration=MINUTE)])
    await states.set_state(store, OBJECT, host, 5)
    await entities.delete_object(store, host)
    assert await rows(store, trigger_firings) == []
    assert await triggers.own_triggers(store, OBJECT, host) is None
