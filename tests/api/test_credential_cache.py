"""The Basic credential cache (docs/api.md §3): one Argon2 check serves concurrent requests, and a
credential in use is re-checked before it expires instead of on a request's path."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from conftest import basic, lifespan, settings_for_test
from opsjobs.api.context import Context
from opsjobs.compose import server_app
from opsjobs.store import users


@contextlib.asynccontextmanager
async def counted_app(database_url: str, **overrides):
    """The app, with its password verifier counting how often it is asked."""
    ctx = Context.create(settings_for_test(database_url, embedded_runner=False, **overrides))
    calls = []
    verify = ctx.passwords.verify

    def counting_verify(password_hash: str, password: str) -> bool:
        calls.append(password)
        return verify(password_hash, password)

    ctx.passwords.verify = counting_verify
    app = server_app(context=ctx)
    async with lifespan(app):
        await users.create_user(
            ctx.store, login="op", password_hash=ctx.passwords.hash("pw"), include=["1"]
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, calls


async def test_concurrent_requests_share_one_password_check(database_url):
    async with counted_app(database_url) as (client, calls):
        answers = await asyncio.gather(
            *(client.get("/node/api/users/current", headers=basic("op", "pw")) for _ in range(20))
        )
        assert [a.status_code for a in answers] == [200] * 20
        assert len(calls) == 1
        # And a wrong password shared by concurrent requests fails for all of them.
        wrong = await asyncio.gather(
            *(client.get("/node/api/users/current", headers=basic("op", "no")) for _ in range(5))
        )
        assert {w.json()["code"] for w in wrong} == {"InvalidCredentials"}
        assert len(calls) == 2


async def test_a_credential_in_use_is_rechecked_before_it_expires(database_url):
    async with counted_app(database_url, credential_cache_seconds=2) as (client, calls):
        headers = basic("op", "pw")
        assert (await client.get("/node/api/users/current", headers=headers)).status_code == 200
        assert len(calls) == 1
        await asyncio.sleep(1.6)  # into the last quarter of the entry's life
        assert (await client.get("/node/api/users/current", headers=headers)).status_code == 200
        for _ in range(100):  # the re-check runs in the background
            if len(calls) == 2:
                break
            await asyncio.sleep(0.02)
        assert len(calls) == 2
        await asyncio.sleep(0.6)  # past the first entry's expiry: the renewed one serves
        assert (await client.get("/node/api/users/current", headers=headers)).status_code == 200
        assert len(calls) == 2
