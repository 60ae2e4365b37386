"""Reading what triggers did (store/deliveries.py): an entity's deliveries newest first,
one page at a time, every column under its document name."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from helpers.execution import opened_store
from opsjobs.domain.ids import new_id
from opsjobs.domain.kinds import EntityKind
from opsjobs.store.deliveries import deliveries_of, has_deliveries
from opsjobs.store.schema import trigger_deliveries

KEYS = [
    "id",
    "firingId",
    "cause",
    "changeId",
    "type",
    "recipient",
    "status",
    "jobId",
    "detail",
    "dueAt",
    "firedAt",
    "late",
    "attempts",
    "finished",
    "history",
]


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


async def add(store, owner_id: str, fired_at: int, **fields) -> str:
    row = {
        "id": new_id(),
        "firing_id": new_id(),
        "owner_id": owner_id,
        "owner_type": 1,
        "cause": "state",
        "change_id": None,
        "type": "sms",
        "recipient": "+15550100",
        "status": "pending",
        "due_at": fired_at,
        "fired_at": fired_at,
        **fields,
    }
    async with store.write() as conn:
        await conn.execute(insert(trigger_deliveries).values(**row))
    return row["id"]


async def test_newest_first_and_paged(store):
    owner, other = new_id(), new_id()
    made = [await add(store, owner, 1000 + n % 4) for n in range(8)]  # ties on fired_at
    await add(store, other, 5000)
    found = await deliveries_of(store, owner, 100, 0)
    assert {d["id"] for d in found} == set(made)
    order = [(d["firedAt"], d["id"]) for d in found]
    assert order == sorted(order, reverse=True)  # by time, then ID: a stable order
    assert await deliveries_of(store, owner, 3, 0) == found[:3]
    assert await deliveries_of(store, owner, 3, 6) == found[6:]
    assert await deliveries_of(store, owner, 0, 0) == []
    assert await deliveries_of(store, new_id(), 10, 0) == []


async def test_every_column_under_its_document_name(store):
    owner = new_id()
    job = new_id()
    delivery_id = await add(
        store,
        owner,
        2000,
        type="operation",
        recipient=None,
        status="queued",
        job_id=job,
        detail="queued job",
        due_at=1500,
        late=True,
        attempts=2,
        finished=2100,
        change_id="c1",
        history='{"attempt": 1, "at": 2050, "outcome": "failed, to be tried again", "detail": "x"}\n',
    )
    [document] = await deliveries_of(store, owner, 10, 0)
    assert list(document) == KEYS
    assert document["id"] == delivery_id
    assert {k: v for k, v in document.items() if k not in ("id", "firingId")} == {
        "cause": "state",
        "changeId": "c1",
        "type": "operation",
        "recipient": None,
        "status": "queued",
        "jobId": job,
        "detail": "queued job",
        "dueAt": 1500,
        "firedAt": 2000,
        "late": True,
        "attempts": 2,
        "finished": 2100,
        "history": [
            {"attempt": 1, "at": 2050, "outcome": "failed, to be tried again", "detail": "x"}
        ],
    }
    # A default row: not late, no attempts yet, not finished.
    second = new_id()
    await add(store, second, 3000)
    [fresh] = await deliveries_of(store, second, 10, 0)
    assert fresh["late"] is False and fresh["attempts"] == 0 and fresh["finished"] is None
    assert fresh["history"] == []


async def test_has_deliveries_by_owner_and_kind(store):
    owner = new_id()
    assert not await has_deliveries(store, owner, EntityKind.OBJECT)
    await add(store, owner, 1)
    assert await has_deliveries(store, owner, EntityKind.OBJECT)
    assert not await has_deliveries(store, owner, EntityKind.LINK)
