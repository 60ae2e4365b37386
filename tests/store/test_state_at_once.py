"""A change of ``state_id`` alone (PATCH, PUT …/state) on SQLite: one synchronous step on
the immediate writer (store/states_sqlite.py, entities_sqlite.py), which must answer and
record exactly what the SQLAlchemy path does (the path of PostgreSQL, and of SQLite when
the write lock is held elsewhere)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from helpers.execution import opened_store
from opsjobs.domain.errors import NotFound
from opsjobs.domain.kinds import EntityKind
from opsjobs.store import entities, operations
from opsjobs.store.db import sqlite_path
from opsjobs.store.triggers import put_triggers

SCRIPT = {"name": "t", "type": 2, "parameters": {"type": "scriptText", "text": "true"}}


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


async def _armed(store) -> dict[str, str]:
    """A parent with two children and a link between them, the parent with an operation and
    a trigger on entering 5."""
    parent = (await entities.create_object(store, name="p", parent_ids=["1"]))["id"]
    a = (await entities.create_object(store, name="a", parent_ids=[parent]))["id"]
    b = (await entities.create_object(store, name="b", parent_ids=[parent]))["id"]
    link = (await entities.create_link(store, source=a, target=b, name="ab"))["id"]
    op = await operations.create_operation(store, "object", parent, SCRIPT)
    trigger = {"states": [5], "type": "operation", "payload": {"operation": op["id"]}}
    await put_triggers(store, EntityKind.OBJECT, parent, [trigger])
    return {"parent": parent, "a": a, "b": b, "link": link}


def _rows(store, sql: str, params: tuple = ()) -> list[tuple]:
    if not store.is_sqlite:
        pytest.skip("reads the SQLite file directly")
    return store.sqlite_read(sql, params, list)


async def test_the_answer_is_the_document_as_read_afterwards(store):
    made = await _armed(store)
    answer = await entities.update_object(store, made["parent"], {"state_id": 5}, user_id="u1")
    assert answer == await entities.object_document(store, made["parent"])
    assert answer["state_id"] == 5
    assert answer["child_ids"] == sorted([made["a"], made["b"]])
    assert answer["child_link_ids"] == [made["link"]]
    assert [op["name"] for op in answer["operations"]] == ["t"]
    link = await entities.update_link(store, made["link"], {"state_id": 4}, user_id="u1")
    assert link == await entities.link_document(store, made["link"])
    assert (link["state_id"], link["source_name"], link["target_name"]) == (4, "a", "b")
    put = await entities.set_entity_state(store, EntityKind.LINK, made["link"], 3, user_id="u1")
    assert put == await entities.link_document(store, made["link"])


async def test_a_change_records_history_and_firings_once(store):
    made = await _armed(store)
    await entities.update_object(store, made["parent"], {"state_id": 5}, user_id="u1")
    await entities.update_object(store, made["parent"], {"state_id": 5}, user_id="u1")  # stays
    history = _rows(
        store,
        "SELECT state_id, prev_state_id, user_id FROM state_history WHERE owner_id = ? "
        "ORDER BY timestamp",
        (made["parent"],),
    )
    assert history == [(1, None, None), (5, 1, "u1")]
    firings = _rows(
        store,
        "SELECT source, source_id, state_id, prev_state_id, due_at = entered_at "
        "FROM trigger_firings WHERE owner_id = ?",
        (made["parent"],),
    )
    assert firings == [("object", made["parent"], 5, 1, 1)]
    assert store.firings_due.is_set()


async def test_patch_marks_the_entity_updated_even_when_its_state_stays(store):
    made = await _armed(store)
    before = await entities.object_document(store, made["a"])
    await asyncio.sleep(0.005)
    after = await entities.update_object(store, made["a"], {"state_id": 1}, user_id="u1")
    assert after["updated"] > before["updated"]
    assert after["last_state_update"] == before["last_state_update"]
    put = await entities.set_entity_state(store, EntityKind.OBJECT, made["a"], 1, user_id="u1")
    assert put["updated"] == after["updated"]  # PUT …/state of the same state changes nothing


async def test_an_entity_gone_is_not_found_and_nothing_is_written(store):
    made = await _armed(store)
    await entities.delete_link(store, made["link"])
    with pytest.raises(NotFound):
        await entities.update_link(store, made["link"], {"state_id": 5}, user_id="u1")
    with pytest.raises(NotFound):
        await entities.set_entity_state(store, EntityKind.LINK, made["link"], 5, user_id="u1")
    assert _rows(store, "SELECT COUNT(*) FROM state_history WHERE owner_id = ?", (made["link"],))[
        0
    ] == (1,)  # its first state only


async def test_with_the_lock_held_elsewhere_the_change_waits_and_is_made_once(store):
    """Another process holds SQLite's write lock: the immediate writer steps aside and the
    async path waits for the lock (its busy timeout), then makes the same change."""
    made = await _armed(store)
    path = sqlite_path(store.db.url)
    if not store.is_sqlite or path is None:
        pytest.skip("SQLite's write lock")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    change = asyncio.ensure_future(
        entities.update_object(store, made["parent"], {"state_id": 5}, user_id="u1")
    )
    await asyncio.sleep(0.2)
    assert not change.done()
    other.execute("COMMIT")
    other.close()
    answer = await asyncio.wait_for(change, 10)
    assert answer["state_id"] == 5
    assert _rows(
        store, "SELECT COUNT(*) FROM trigger_firings WHERE owner_id = ?", (made["parent"],)
    ) == [(1,)]


async def test_with_the_async_writer_busy_the_change_takes_its_turn_after_it(store):
    """This process's own async writer is in the middle of a transaction: the change waits
    for it and is then made at once, not through the slow path."""
    made = await _armed(store)
    if not store.is_sqlite:
        pytest.skip("SQLite's immediate writer")
    async with store.write() as conn:
        await conn.exec_driver_sql("UPDATE objects SET weight = 2 WHERE id = ?", (made["b"],))
        change = asyncio.ensure_future(
            entities.update_object(store, made["parent"], {"state_id": 5}, user_id="u1")
        )
        await asyncio.sleep(0.05)
        assert not change.done()
    answer = await asyncio.wait_for(change, 10)
    assert answer["state_id"] == 5
    assert (await entities.object_document(store, made["b"]))["weight"] == 2
