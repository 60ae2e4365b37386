"""Two server processes on one database: a change made through one is honoured by the other
(docs/api.md §3: a changed password, status or rights is never served from a cache)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from conftest import basic, lifespan, settings_for_test
from helpers.execution import opened_store
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.store.entities import create_object


@contextlib.asynccontextmanager
async def served(database_url: str):
    ctx = Context.create(settings_for_test(database_url, embedded_runner=False))
    app = server_app(context=ctx)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def _eventually(check, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "the other process never noticed the change"
        await asyncio.sleep(0.05)


async def test_a_change_in_one_process_reaches_the_other(api, database_url, backend):
    admin = await api.admin()
    operator = await api.user("operator", "old-password", include=["1"])
    async with served(database_url) as other:
        job_url = "/node/api/users/current"
        assert (await other.get(job_url, headers=operator)).status_code == 200

        changed = await api.client.patch(
            f"/node/api/users/{(await other.get(job_url, headers=operator)).json()['id']}",
            json={"password": "new-password"},
            headers=admin,
        )
        assert changed.status_code == 200

        async def old_refused() -> bool:
            return (await other.get(job_url, headers=operator)).status_code == 401

        await _eventually(old_refused)
        new = basic("operator", "new-password")
        assert (await other.get(job_url, headers=new)).status_code == 200

        # An object made in one process is visible through the other.
        created = await api.client.post("/node/api/objects", json={"name": "n"}, headers=admin)
        object_id = created.json()["id"]

        async def visible() -> bool:
            response = await other.get(f"/node/api/objects/{object_id}", headers=new)
            return response.status_code == 200

        await _eventually(visible)


async def test_a_reload_that_races_a_change_of_this_process_keeps_the_change(backend, database_url):
    """A reload whose reads began before this process created an object must not swap in
    a directory without it (the object would 404 until the next reload)."""
    async with opened_store(database_url) as store:
        directory = store.directory
        read = directory._read
        created = []

        async def read_then_create(conn):
            loaded = await read(conn)
            if not created:  # made after the reads, before the swap
                created.append(await create_object(store, name="racer", parent_ids=["1"]))
            return loaded

        directory._read = read_then_create
        async with store.read() as conn:
            await directory.load(conn)
        assert directory.object_exists(created[0]["id"])
