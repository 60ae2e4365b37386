"""Read-your-writes between two server processes' worth of app on one database:
a change acknowledged by one is honoured by the other on the very next request, with no
poll or notification in between; the hot path GET /jobs/:id learns it from the revision its
own read returns, and makes no query beyond that read when the answer is yes.

The other app's background follower (poll and NOTIFY) is switched off, so each answer here
comes from catching up on the request itself.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from conftest import basic
from helpers import add_job, app_client
from helpers.doors import door  # noqa: F401 (every test here, through both doors)
from helpers.execution import opened_store
from opsjobs.api import directory_follower
from opsjobs.domain.rights import PERMISSIONS
from opsjobs.store.entities import create_object


@pytest.fixture
def no_follower(monkeypatch):
    async def follow_nothing(_ctx) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(directory_follower, "follow_directory", follow_nothing)


@contextlib.asynccontextmanager
async def two_servers(database_url: str):
    """(writer, reader): two apps on one database; the reader follows nothing on its own."""
    async with app_client(database_url, embedded_runner=False) as writer:
        async with app_client(database_url, embedded_runner=False) as reader:
            yield writer, reader


def count_calls(monkeypatch, target, name: str) -> list[int]:
    calls = [0]
    original = getattr(target, name)

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, counting)
    return calls


async def test_the_other_server_honours_every_change_at_once(
    backend, database_url, no_follower, monkeypatch
):
    async with two_servers(database_url) as (a, b):
        admin = await a.admin()
        # An object made through a: b answers for it, its operations and its jobs at once.
        created = await a.client.post("/node/api/objects", json={"name": "x"}, headers=admin)
        object_id = created.json()["id"]
        assert (await b.client.get(f"/node/api/objects/{object_id}", headers=admin)).is_success
        job = await add_job(a.store, object_id)
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=admin)).is_success

        # A user made through a logs in through b at once: Basic on the hot path and on any
        # route, a session, and a token.
        made = await a.client.post(
            "/node/api/users",
            json={"login": "u", "password": "pw", "objectPermissions": {"include": [object_id]}},
            headers=admin,
        )
        user_id = made.json()["id"]
        user = basic("u", "pw")
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=user)).is_success
        token = (await a.client.post(f"/node/api/users/{user_id}/auth-token", headers=admin)).json()
        response = await b.client.get(f"/node/api/jobs/{job}", params={"auth-token": token})
        assert response.is_success, response.text
        await a.client.delete(f"/node/api/users/{user_id}/auth-token", headers=admin)
        response = await b.client.get(f"/node/api/jobs/{job}", params={"auth-token": token})
        assert response.status_code == 401, response.text

        # A right removed through a: b refuses at once, on the hot path from its cached
        # credentials too.
        changed = await a.client.patch(
            f"/node/api/users/{user_id}",
            json={"objectPermissions": {"include": []}},
            headers=admin,
        )
        assert changed.is_success
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=user)).status_code == 404
        assert (
            await b.client.get(f"/node/api/objects/{object_id}", headers=user)
        ).status_code == 404

        # Blocked, or a new password, through a: refused through b at once.
        await a.client.patch(
            f"/node/api/users/{user_id}",
            json={"objectPermissions": {"include": [object_id]}},
            headers=admin,
        )
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=user)).is_success
        await a.client.patch(f"/node/api/users/{user_id}", json={"status": 3}, headers=admin)
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=user)).status_code == 401
        await a.client.patch(
            f"/node/api/users/{user_id}", json={"status": 1, "password": "new"}, headers=admin
        )
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=user)).status_code == 401
        fresh = basic("u", "new")
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=fresh)).is_success

        # The object moved out of sight through a: gone for the user through b.
        elsewhere = await a.client.post("/node/api/objects", json={"name": "y"}, headers=admin)
        other = elsewhere.json()["id"]
        moved = await a.client.post("/node/api/objects", json={"name": "z"}, headers=admin)
        moved_id = moved.json()["id"]
        await a.client.patch(
            f"/node/api/users/{user_id}",
            json={"objectPermissions": {"include": [object_id, moved_id]}},
            headers=admin,
        )
        await a.client.patch(
            f"/node/api/objects/{object_id}", json={"parent_id": moved_id}, headers=admin
        )
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=fresh)).is_success
        await a.client.patch(
            f"/node/api/users/{user_id}",
            json={"objectPermissions": {"include": [moved_id]}},
            headers=admin,
        )
        await a.client.patch(
            f"/node/api/objects/{object_id}", json={"parent_id": other}, headers=admin
        )
        assert (await b.client.get(f"/node/api/jobs/{job}", headers=fresh)).status_code == 404


async def test_the_hot_path_makes_one_query_and_no_password_check_when_nothing_changed(
    backend, database_url, no_follower, monkeypatch
):
    async with two_servers(database_url) as (a, b):
        admin = await a.admin()
        object_id = await a.object("x")
        job = await add_job(a.store, object_id)
        url = f"/node/api/jobs/{job}"
        assert (await b.client.get(url, headers=admin)).is_success  # verified and cached
        queries = count_calls(monkeypatch, type(b.store), "fetch_row")
        checks = count_calls(monkeypatch, b.ctx.passwords, "verify")
        for _ in range(3):
            assert (await b.client.get(url, headers=admin)).is_success
        assert queries[0] == 3 and checks[0] == 0
        # A change to somebody else, through a: b catches up (one reload) and still needs
        # no new password check for the admin, whose Principal did not change.
        await a.user("someone-else", permissions=list(PERMISSIONS), include=["1"])
        assert (await b.client.get(url, headers=admin)).is_success
        assert b.store.directory.principal_by_login("someone-else") is not None
        assert checks[0] == 0


async def test_a_reload_that_races_a_change_of_this_process_keeps_it_on_every_path(
    backend, database_url
):
    """Store.reload_directory (one thread hop on SQLite, the pool on PostgreSQL): an object
    this process creates while the reload reads must not be undone by the swap."""
    async with opened_store(database_url) as store:
        directory = store.directory
        load_with = directory.load_with
        created = []

        async def racing(read, between):
            async def read_then_create():
                loaded = await read()
                if not created:  # made after the reads, before the swap
                    created.append(await create_object(store, name="racer", parent_ids=["1"]))
                return loaded

            await load_with(read_then_create, between)

        directory.load_with = racing
        if backend == "sqlite":
            await store.reload_directory()
        else:  # the pool's path goes through load(conn)
            async with store.read() as conn:
                await directory.load(conn)
        assert directory.object_exists(created[0]["id"])
