"""`opsjobs audit` on the local database and `opsjobs remote audit` through a server."""

from __future__ import annotations

import asyncio
import json

from helpers import run_cli
from helpers.remote import ADMIN, VIEWER, RemoteServer
from opsjobs.domain.audit import AuditEntry
from opsjobs.domain.clock import now_ms
from opsjobs.store.audit import append
from opsjobs.store.core import Store


def _plant(database_url: str) -> None:
    async def go() -> None:
        store = Store(database_url)
        await store.open()
        try:
            now = now_ms()
            await append(
                store,
                [
                    AuditEntry(
                        "auth.login_failed",
                        "refused",
                        401,
                        address="192.0.2.7",
                        target_type="login",
                        target_id="mallory",
                        at=now - 3 * 86_400_000,
                        detail={"method": "basic", "count": 3},
                    ),  # fmt: skip
                    AuditEntry("auth.login", actor_id="a" * 24, actor_login="ada", at=now - 1000),
                    AuditEntry(
                        "user.update",
                        actor_id="a" * 24,
                        actor_login="ada",
                        at=now,
                        target_type="user",
                        target_id="b" * 24,
                        detail={"fields": ["password"]},
                    ),  # fmt: skip
                ],
            )
        finally:
            await store.close()

    asyncio.run(go())


def test_the_local_audit_log(database_url):
    _plant(database_url)
    url = ["--database-url", database_url]
    everything = json.loads(run_cli("audit", *url, "--json").stdout)
    assert [row["kind"] for row in everything] == ["user.update", "auth.login", "auth.login_failed"]
    recent = json.loads(run_cli("audit", *url, "--since", "1d", "--kind", "auth.", "--json").stdout)
    assert [row["kind"] for row in recent] == ["auth.login"]
    by_ada = json.loads(run_cli("audit", *url, "--actor", "ada", "--limit", "1", "--json").stdout)
    assert [row["kind"] for row in by_ada] == ["user.update"]
    table = run_cli("audit", *url)
    assert table.returncode == 0, table.stderr
    assert "auth.login_failed" in table.stdout and "refused 401" in table.stdout
    assert "mallory" in table.stdout and '"password"' in table.stdout
    refused = run_cli("audit", *url, "--limit", "0")
    assert refused.returncode == 2


def test_the_remote_audit_log(server: RemoteServer):
    env = server.env(ADMIN)
    result = run_cli("remote", "audit", "--kind", "object.create", "--json", env=env)
    assert result.returncode == 0, result.stderr
    created = {row["target_id"] for row in json.loads(result.stdout)}
    assert created >= set(server.objects.values())
    table = run_cli("remote", "audit", "--kind", "object.", "--actor", ADMIN[0], env=env)
    assert table.returncode == 0 and "object.create" in table.stdout
    viewer = run_cli("remote", "audit", env=server.env(VIEWER))
    assert viewer.returncode == 255 and "403" in viewer.stderr
