"""The state history as the API reads it (store/states.py): ``history`` in batches from the
newest back, and ``has_history``, which keeps a deleted entity's history readable."""

from __future__ import annotations

import pytest

from helpers.execution import opened_store
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import entities
from opsjobs.store.states import has_history, history, set_state


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


async def test_history_reads_back_in_batches_without_gaps_or_repeats(store):
    obj = await entities.create_object(store, name="o", parent_ids=["1"])
    for state in (3, 4, 5, 6, 7, 8, 9, 3):
        await set_state(store, EntityKind.OBJECT, obj["id"], state, user_id="u1")
    everything = await history(
        store, owner_ids=[obj["id"]], start=None, end=None, after=None, batch=100
    )
    assert [r["state_id"] for r in everything] == [3, 9, 8, 7, 6, 5, 4, 3, 1]
    read, after = [], None
    while True:
        rows = await history(
            store, owner_ids=[obj["id"]], start=None, end=None, after=after, batch=2
        )
        read += rows
        if len(rows) < 2:
            break
        after = (rows[-1]["timestamp"], rows[-1]["id"])
    assert read == everything


async def test_has_history_outlives_the_entity(store):
    a = await entities.create_object(store, name="a", parent_ids=["1"])
    b = await entities.create_object(store, name="b", parent_ids=["1"])
    link = await entities.create_link(store, source=a["id"], target=b["id"])
    assert await has_history(store, a["id"], EntityKind.OBJECT)
    assert await has_history(store, link["id"], EntityKind.LINK)
    assert not await has_history(store, link["id"], EntityKind.OBJECT)
    await entities.delete_object(store, a["id"])  # the link goes with it
    assert await has_history(store, a["id"], EntityKind.OBJECT)
    assert await has_history(store, link["id"], EntityKind.LINK)
    assert not await has_history(store, "0123456789abcdef01234567", EntityKind.OBJECT)
