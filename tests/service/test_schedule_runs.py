"""Schedules run at their times, each due time once, as their owner (service/schedule_runs.py,
service/schedules.py, store/schedules.py), timed by an injected clock rather than by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import select, update

from helpers.execution import opened_store
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.service.schedule_runs import run_due
from opsjobs.service.schedules import create_schedule, set_paused
from opsjobs.store import entities, operations, schedules, users
from opsjobs.store.schema import jobs
from opsjobs.store.schema import schedules as schedules_table

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def at(zone: ZoneInfo, *parts: int, fold: int = 0) -> int:
    return int(datetime(*parts, tzinfo=zone, fold=fold).timestamp() * 1000)


def utc(*parts: int) -> int:
    return at(UTC, *parts)


@pytest.fixture
async def world(backend, database_url):
    """A store, an object with an operation ``restart`` (one declared argument), and its
    owner ``ops`` who may execute operations there."""
    async with opened_store(database_url) as store:
        host = (await entities.create_object(store, name="web-1", parent_ids=["1"]))["id"]
        document = {
            "name": "restart",
            "type": 2,
            "parameters": {
                "type": "scriptText",
                "text": "echo {{args.mode}}",
                "arguments": {"mode": {"type": "string", "default": "soft"}},
            },
        }
        restart = (await operations.create_operation(store, "object", host, document))["id"]
        user = await users.create_user(
            store, login="ops", password_hash="x", permissions=["execute-operations"], include=["1"]
        )
        yield store, host, restart, user["id"]


async def job_rows(store) -> list:
    async with store.read() as conn:
        return list(await conn.execute(select(jobs).order_by(jobs.c.timestamp, jobs.c.id)))


async def run(store, now: int) -> list:
    return await run_due(store, default_timeout=60, late_after_ms=5 * SECOND, now=now)


def body(host: str, operation: str, **timing) -> dict:
    return {"name": "nightly", "operation": operation, "target": {"object": host}, **timing}


async def due_times(store) -> list[int]:
    return [orjson.loads(j.process_meta)["schedule"]["dueAt"] for j in await job_rows(store)]


async def test_an_interval_schedule_runs_once_per_due_time(world):
    store, host, restart, owner = world
    start = utc(2026, 5, 1, 12, 0)
    made = await create_schedule(store, owner, body(host, restart, interval=60), now=start)
    assert made["nextRunAt"] == start + MINUTE
    assert await run(store, start + 59 * SECOND) == []  # not yet
    assert len(await run(store, start + MINUTE)) == 1
    assert await run(store, start + MINUTE + 10) == []  # never twice
    assert len(await run(store, start + 2 * MINUTE + 3)) == 1
    (first, second) = await job_rows(store)
    assert (first.user_id, first.operation_id, first.status) == (owner, restart, "queued")
    meta = orjson.loads(first.process_meta)["schedule"]
    assert meta == {
        "id": made["id"],
        "name": "nightly",
        "dueAt": start + MINUTE,
        "firedAt": start + MINUTE,
        "late": False,
    }
    assert await due_times(store) == [start + MINUTE, start + 2 * MINUTE]
    row = await schedules.get(store, made["id"])
    assert (row.last_job_id, row.last_run_at) == (second.id, start + 2 * MINUTE + 3)
    assert row.next_run_at == start + 3 * MINUTE  # the phase kept, not now + interval


async def test_a_cron_schedule_runs_at_its_times_in_its_time_zone(world):
    store, host, restart, owner = world
    start = at(BERLIN, 2026, 5, 1, 8, 0)
    made = await create_schedule(
        store, owner, body(host, restart, cron="30 9 * * *", timezone="Europe/Berlin"), now=start
    )
    assert made["nextRunAt"] == at(BERLIN, 2026, 5, 1, 9, 30)
    assert len(await run(store, made["nextRunAt"])) == 1
    row = await schedules.get(store, made["id"])
    assert row.next_run_at == at(BERLIN, 2026, 5, 2, 9, 30)


async def test_the_operation_gets_the_schedules_args(world):
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    await create_schedule(
        store, owner, {**body(host, restart, interval=5), "args": {"mode": "hard"}}, now=start
    )
    await run(store, start + 5 * SECOND)
    (job,) = await job_rows(store)
    assert "hard" in job.spec


@pytest.mark.parametrize("missed", ["skip", "run-once"])
async def test_due_times_missed_while_down_run_by_the_policy(world, missed):
    store, host, restart, owner = world
    start = utc(2026, 5, 1, 12, 0)
    schedule = {**body(host, restart, interval=60), "missed": missed}
    made = await create_schedule(store, owner, schedule, now=start)
    # Down from before the first due time until ten minutes past it: one pass on restart.
    back = start + 10 * MINUTE + 30 * SECOND
    done = await run(store, back)
    assert len(done) == 1
    assert await run(store, back + 1) == []
    found = await job_rows(store)
    if missed == "skip":
        assert found == []
    else:
        (job,) = found
        meta = orjson.loads(job.process_meta)["schedule"]
        assert (meta["dueAt"], meta["firedAt"], meta["late"]) == (start + MINUTE, back, True)
    row = await schedules.get(store, made["id"])
    assert row.next_run_at == start + 11 * MINUTE  # the next time in the future
    assert len(await run(store, start + 11 * MINUTE)) == 1


async def test_a_restart_between_due_and_run_runs_it_once(world, database_url):
    """Two stores (two processes) both read the due row; one job in total."""
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    await create_schedule(store, owner, body(host, restart, interval=10), now=start)
    async with opened_store(database_url) as other:
        first = await run(store, start + 10 * SECOND)
        second = await run(other, start + 10 * SECOND)
    assert len(first) + len(second) == 1
    assert await due_times(store) == [start + 10 * SECOND]


async def test_a_skipped_hour_runs_once_at_the_change_new_york(world):
    store, host, restart, owner = world
    # 2026-03-08: at 02:00 New York's clocks go to 03:00; 02:30 does not exist that day.
    start = at(NEW_YORK, 2026, 3, 7, 12, 0)
    cron = body(host, restart, cron="30 2 * * *", timezone="America/New_York")
    made = await create_schedule(store, owner, cron, now=start)
    assert made["nextRunAt"] == at(NEW_YORK, 2026, 3, 8, 3, 0)  # the change, 03:00 EDT
    row = await schedules.get(store, made["id"])
    for _day in range(8, 11):
        await run(store, row.next_run_at)
        row = await schedules.get(store, made["id"])
    assert await due_times(store) == [
        at(NEW_YORK, 2026, 3, 8, 3, 0),
        at(NEW_YORK, 2026, 3, 9, 2, 30),
        at(NEW_YORK, 2026, 3, 10, 2, 30),
    ]


async def test_a_repeated_hour_runs_once_berlin(world):
    store, host, restart, owner = world
    # 2026-10-25: at 03:00 Berlin's clocks go back to 02:00; 02:00-03:00 happens twice.
    start = at(BERLIN, 2026, 10, 25, 0, 0)
    for cron in ("30 2 * * *", "*/30 * * * *"):
        made = await create_schedule(
            store, owner, body(host, restart, cron=cron, timezone="Europe/Berlin"), now=start
        )
        assert made["nextRunAt"] is not None
    now = start
    while now < at(BERLIN, 2026, 10, 25, 4, 0):
        await run(store, now)
        now += 5 * MINUTE
    fired = [
        datetime.fromtimestamp(t / 1000, BERLIN).strftime("%H:%M") for t in await due_times(store)
    ]
    assert fired.count("02:30") == 2  # once for each schedule, not once for each pass
    assert fired.count("02:00") == 1
    every_half_hour = sorted(set(fired))
    assert every_half_hour == ["00:30", "01:00", "01:30", "02:00", "02:30", "03:00", "03:30"]
    assert len(fired) == 8  # seven half hours, and 02:30 of the daily one


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"permissions": []}, "no longer holds execute-operations"),
        ({"include": [], "exclude": ["1"]}, "may no longer see the object"),
        ({"status": 3}, "is blocked or expired"),
    ],
)
async def test_an_owner_who_lost_rights_gets_no_job_and_the_schedule_stops(world, change, reason):
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    made = await create_schedule(store, owner, body(host, restart, interval=60), now=start)
    await users.update_user(store, owner, change)
    assert len(await run(store, start + MINUTE)) == 1
    assert await job_rows(store) == []
    row = await schedules.get(store, made["id"])
    assert (row.paused, row.next_run_at) == (True, None)
    assert reason in row.stopped_reason
    assert await run(store, start + 10 * MINUTE) == []


async def test_a_deleted_owner_or_operation_stops_the_schedule(world):
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    admin = await users.create_user(
        store, login="root", password_hash="x", permissions=list(PERMISSIONS), include=["1"]
    )
    mine = await create_schedule(store, owner, body(host, restart, interval=60), now=start)
    theirs = await create_schedule(store, admin["id"], body(host, restart, interval=90), now=start)
    await users.delete_user(store, owner)
    await run(store, start + MINUTE)
    assert "no longer exists" in (await schedules.get(store, mine["id"])).stopped_reason
    await operations.delete_operation(store, "object", host, restart)
    await run(store, start + 90 * SECOND)
    stopped = await schedules.get(store, theirs["id"])
    assert stopped.paused and "Operation" in stopped.stopped_reason
    assert await job_rows(store) == []


async def test_pause_and_resume(world):
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    made = await create_schedule(store, owner, body(host, restart, interval=60), now=start)
    paused = await set_paused(store, await schedules.get(store, made["id"]), True, now=start)
    assert (paused["paused"], paused["nextRunAt"]) == (True, None)
    assert await run(store, start + 5 * MINUTE) == []
    later = start + 5 * MINUTE
    resumed = await set_paused(store, await schedules.get(store, made["id"]), False, now=later)
    assert (resumed["paused"], resumed["nextRunAt"]) == (False, later + MINUTE)


async def test_a_time_zone_gone_from_the_system_stops_the_schedule(world):
    store, host, restart, owner = world
    start = utc(2026, 5, 1)
    cron = body(host, restart, cron="0 * * * *", timezone="Europe/Berlin")
    made = await create_schedule(store, owner, cron, now=start)
    async with store.write() as conn:  # as if the time zone data had lost the zone
        await conn.execute(
            update(schedules_table)
            .where(schedules_table.c.id == made["id"])
            .values(timezone="Gone/Away")
        )
    await run(store, made["nextRunAt"])
    row = await schedules.get(store, made["id"])
    assert row.paused and "Gone/Away" in row.stopped_reason
    assert await job_rows(store) == []
