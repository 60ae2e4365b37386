"""The client's audit call (docs/api.md §18), sync and async, against a real server."""

from __future__ import annotations

import pytest

from helpers.remote import ADMIN, VIEWER
from opsjobs.client import AsyncClient, BadRequest, Forbidden


def test_the_audit_log_through_the_blocking_client(server):
    with server.client() as client:
        created = client.audit(kind="object.create", limit=1000)
        assert {row["target_id"] for row in created} >= set(server.objects.values())
        assert all(row["actor_login"] == ADMIN[0] for row in created)
        assert client.audit(kind="object.create", limit=1, skip=1) == created[1:2]
        assert client.audit(actor=ADMIN[0], start=created[0]["at"], kind="object.")[0] == created[0]
        with pytest.raises(BadRequest, match="limit"):
            client.audit(limit=1001)
    with server.client(VIEWER) as viewer, pytest.raises(Forbidden):
        viewer.audit()


async def test_the_audit_log_through_the_async_client(server):
    async with AsyncClient(server.base, login=ADMIN[0], password=ADMIN[1]) as client:
        rows = await client.audit(kind="auth.", limit=5)
        assert rows and all(row["kind"].startswith("auth.") for row in rows)
    async with AsyncClient(server.base, login=VIEWER[0], password=VIEWER[1]) as viewer:
        with pytest.raises(Forbidden):
            await viewer.audit()
