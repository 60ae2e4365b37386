"""The audit log's table (store/audit.py) and what a row may hold (domain/audit.py)."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import func, select

from opsjobs.domain.audit import DETAIL_BYTES, AuditEntry, clean_detail
from opsjobs.store.audit import AuditQuery, append, purge_audit, read_audit
from opsjobs.store.core import Store
from opsjobs.store.schema import audit_log


@pytest.fixture
async def store(database_url, backend):
    store = Store(database_url)
    await store.open()
    yield store
    await store.close()


async def count(store: Store) -> int:
    async with store.read() as conn:
        return (await conn.execute(select(func.count()).select_from(audit_log))).scalar_one()


def test_detail_never_keeps_a_secret() -> None:
    detail = {
        "login": "ada",
        "password": "p1",
        "Auth-Token": "t1",
        "nested": {"client_secret": "s1", "apiKey": "k1", "csrf": "c1", "ok": 1},
        "list": [{"sid": "x1", "session_id": "x2", "cookie": "x3"}],
        "authenticationToken": "t2",
        "newPassword": "p2",
    }
    text = clean_detail(detail)
    for secret in ("p1", "t1", "s1", "k1", "c1", "x1", "x2", "x3", "t2", "p2"):
        assert f'"{secret}"' not in text
    assert orjson.loads(text) == {"login": "ada", "nested": {"ok": 1}, "list": [{}]}


def test_detail_is_bounded() -> None:
    huge = {f"k{n}": "v" * 10_000 for n in range(100)}
    text = clean_detail(huge)
    assert len(text.encode()) <= DETAIL_BYTES + 20
    deep: dict = {}
    inner = deep
    for _ in range(50):
        inner["a"] = {}
        inner = inner["a"]
    assert len(clean_detail({"deep": deep, "many": list(range(10_000))})) < DETAIL_BYTES
    assert clean_detail({}) is None and clean_detail(None) is None


def test_columns_are_bounded() -> None:
    row = AuditEntry("auth.login_failed", target_type="login", target_id="x" * 100_000).row()
    assert len(row["target_id"]) == 255


async def test_rows_are_read_newest_first_and_filtered(store) -> None:
    entries = [
        AuditEntry("auth.login", actor_id="a" * 24, actor_login="ada", at=1000),
        AuditEntry("auth.logout", actor_id="a" * 24, actor_login="ada", at=2000),
        AuditEntry(
            "user.update",
            actor_id="b" * 24,
            actor_login="bob",
            at=3000,
            detail={"fields": ["password"]},
        ),  # fmt: skip
        AuditEntry("auth_x", at=4000),
    ]
    await append(store, entries)
    everything = await read_audit(store, AuditQuery())
    assert [row["at"] for row in everything] == [4000, 3000, 2000, 1000]
    assert everything[1]["detail"] == {"fields": ["password"]}
    kinds = [row["kind"] for row in await read_audit(store, AuditQuery(kind="auth."))]
    assert kinds == ["auth.logout", "auth.login"]  # the prefix is literal: not auth_x
    assert len(await read_audit(store, AuditQuery(actor="ada"))) == 2
    assert len(await read_audit(store, AuditQuery(actor="b" * 24))) == 1
    window = await read_audit(store, AuditQuery(start=2000, end=3000))
    assert [row["at"] for row in window] == [3000, 2000]
    page = await read_audit(store, AuditQuery(limit=2, skip=1))
    assert [row["at"] for row in page] == [3000, 2000]


async def test_purge_deletes_only_old_rows_one_batch_at_a_time(store) -> None:
    await append(store, [AuditEntry("job.execute", at=at) for at in range(100, 110)])
    await append(store, [AuditEntry("job.execute", at=at) for at in range(1000, 1005)])
    assert await purge_audit(store, 1000, 4) == 4
    assert await count(store) == 11
    assert await purge_audit(store, 1000, 4) == 4
    assert await purge_audit(store, 1000, 4) == 2  # fewer than a batch: nothing old is left
    assert await purge_audit(store, 1000, 4) == 0
    remaining = await read_audit(store, AuditQuery())
    assert sorted(row["at"] for row in remaining) == list(range(1000, 1005))
    assert await purge_audit(store, 10_000, 0) == 0


async def test_a_batch_written_again_is_written_once(store) -> None:
    # A retry after a commit whose answer was lost sends rows already stored.
    entries = [AuditEntry("job.cancel", at=at) for at in (1, 2)]
    await append(store, entries)
    await append(store, [*entries, AuditEntry("job.cancel", at=3)])
    assert await count(store) == 3


async def test_texts_a_database_cannot_hold_are_made_harmless(store) -> None:
    login = "nul\0login" + "x" * 1000
    await append(
        store, [AuditEntry("auth.login_failed", target_type="login" * 20, target_id=login)]
    )
    (row,) = await read_audit(store, AuditQuery())
    assert row["target_id"] == ("nul\ufffdlogin" + "x" * 1000)[:255]
    assert len(row["target_type"]) == 32
