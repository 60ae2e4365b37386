"""State triggers fire exactly once with real `opsjobs serve` processes: across a restart
between the change and the firing, and across two servers sharing one PostgreSQL database
while state changes arrive through both."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

import httpx
import orjson
import pytest
from sqlalchemy import select

from helpers import cli_env, running_server
from helpers.execution import opened_store, rows_when
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.passwords import Passwords
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store import entities, operations, users
from opsjobs.store.schema import jobs, state_history, trigger_firings
from opsjobs.store.triggers import put_triggers

ADMIN = ("admin", "admin-secret")
CHANGES = 240  # over OBJECTS objects, 20 each; half of them enter the trigger's state
OBJECTS = 12
SETTINGS = {"OPSJOBS_TRIGGER_POLL_SECONDS": "0.5", "OPSJOBS_TRIGGER_LATE_AFTER_SECONDS": "0.5"}


async def seed(url: str, objects: int, trigger: dict, admin: bool = True) -> list[str]:
    """An admin, and ``objects`` objects each with an operation and ``trigger`` running it."""
    async with opened_store(url) as store:
        if admin:
            hashed = Passwords(1, 8).hash(ADMIN[1])
            await users.create_user(
                store, login=ADMIN[0], password_hash=hashed, permissions=list(PERMISSIONS),
                include=["1"],
            )  # fmt: skip
        made = []
        for n in range(objects):
            host = (await entities.create_object(store, name=f"host-{n}", parent_ids=["1"]))["id"]
            document = {
                "name": "mark",
                "type": 2,
                "parameters": {"type": "scriptText", "text": "true"},
            }
            op = await operations.create_operation(store, "object", host, document)
            await put_triggers(
                store, EntityKind.OBJECT, host, [{**trigger, "payload": {"operation": op["id"]}}]
            )
            made.append(host)
        return made


async def trigger_jobs(url: str) -> list:
    async with opened_store(url) as store, store.read() as conn:
        return (await conn.execute(select(jobs.c.id, jobs.c.process_meta, jobs.c.user_id))).all()


async def wait_for_jobs(url: str, count: int, seconds: float = 90) -> list:
    return await rows_when(lambda: trigger_jobs(url), count, seconds)


async def patch_state(client: httpx.AsyncClient, base: str, host: str, state: int) -> None:
    response = await client.patch(f"{base}/node/api/objects/{host}", json={"state_id": state})
    assert response.status_code == 200, response.text


async def test_a_restart_between_the_change_and_the_firing_still_fires_once(backend, database_url):
    trigger = {"states": [5], "type": "operation", "duration": 2000}
    (host,) = await seed(database_url, 1, trigger)
    env = cli_env(**SETTINGS)
    async with httpx.AsyncClient(auth=ADMIN, timeout=30) as client:
        with running_server(database_url, env=env) as (base, _):
            await patch_state(client, base, host, 5)
        # Down for longer than the duration: the firing falls due while nothing runs.
        await asyncio.sleep(2.5)
        async with opened_store(database_url) as store, store.read() as conn:
            assert len((await conn.execute(select(trigger_firings.c.id))).all()) == 1
        with running_server(database_url, env=env):
            (job,) = await wait_for_jobs(database_url, 1)
            await asyncio.sleep(1.5)  # a second firing, if any, would show by now
            assert len(await trigger_jobs(database_url)) == 1
    meta = orjson.loads(job.process_meta)
    assert job.user_id is None and meta["triggerStates"] == [5]
    assert meta["firing"]["late"] is True


DURATION = 3000  # ms: the objects of the second half wait this long in Alarm
# A change's time is taken when its transaction starts, and a firing may be taken by a
# dispatcher while a change that leaves the state is being written: within this much of the
# duration, either outcome is right.
RACE_MS = 1000


async def test_two_servers_on_postgresql_fire_once_in_total(backend, database_url):
    if backend != "postgresql":
        pytest.skip("several servers share a PostgreSQL database")
    # Half the triggers fire at once, half after a short duration: both paths race.
    hosts = await seed(database_url, OBJECTS, {"states": [5], "type": "operation"})
    hosts += await seed(
        database_url, OBJECTS, {"states": [5], "type": "operation", "duration": DURATION}, False
    )
    env = cli_env(**SETTINGS)
    with contextlib.ExitStack() as stack:
        bases = [stack.enter_context(running_server(database_url, env=env))[0] for _ in range(2)]
        async with httpx.AsyncClient(auth=ADMIN, timeout=60) as client:

            async def flip(n: int, host: str) -> None:
                steps = CHANGES // OBJECTS // 2  # 10 per object: 5, 3, 5, 3, …, ending in 3
                for step in range(steps - 1):
                    await patch_state(
                        client, bases[(n + step) % 2], host, 5 if step % 2 == 0 else 3
                    )
                await patch_state(client, bases[n % 2], host, 5)  # and the last one stays

            await asyncio.gather(*(flip(n, host) for n, host in enumerate(hosts)))
        changes, must, may = await expected_firings(database_url, hosts[OBJECTS:])
        await wait_for_jobs(database_url, len(must))
        await asyncio.sleep(2)  # let a double, if any, show
        found = await trigger_jobs(database_url)
    by_change = Counter(orjson.loads(j.process_meta)["stateChange"]["id"] for j in found)
    print(f"\n{changes} state changes, {len(must)} into Alarm had to fire, {len(found)} jobs")
    assert changes >= 200 and len(must) >= 70
    assert [c for c, n in by_change.items() if n > 1] == [], "none fired twice"
    assert must <= set(by_change) <= must | may, "each change that held fired, no other"


async def expected_firings(url: str, waiting: list[str]) -> tuple[int, set[str], set[str]]:
    """How many changes there were; the changes into Alarm that must have fired, and those
    that may have: an object of
    ``waiting`` fires only if it stayed DURATION ms; one left within RACE_MS of it may go
    either way (its firing and the change raced), one left long before cannot fire."""
    async with opened_store(url) as store, store.read() as conn:
        rows = (
            await conn.execute(
                select(state_history).order_by(state_history.c.owner_id, state_history.c.timestamp)
            )
        ).all()
    must: set[str] = set()
    may: set[str] = set()
    for row, following in zip(rows, [*rows[1:], None], strict=True):
        if row.state_id != 5:
            continue
        if row.owner_id not in waiting:
            must.add(row.id)
            continue
        left = None if following is None or following.owner_id != row.owner_id else following
        held = None if left is None else left.timestamp - row.timestamp
        if held is None or held > DURATION + 5000:
            must.add(row.id)
        elif held >= DURATION - RACE_MS:
            may.add(row.id)
    return sum(row.prev_state_id is not None for row in rows), must, may
