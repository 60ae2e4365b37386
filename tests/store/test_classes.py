"""A class's state triggers as stored (store/classes.py): kept with the class, shown in its
document, checked against the class's own operations, and a change or a delete drops what
they had pending."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from helpers.execution import opened_store
from opsjobs.domain.errors import BadRequest, NotFound
from opsjobs.domain.kinds import EntityKind
from opsjobs.domain.operations import validate_all
from opsjobs.store import classes, entities
from opsjobs.store import operations as ops
from opsjobs.store.schema import trigger_firings
from opsjobs.store.states import set_state
from opsjobs.store.triggers import defined_triggers

LATER = {"type": "e-mail", "states": [5], "payload": {"to": "a@example.com"}, "duration": 10**9}
[OPERATION] = validate_all(
    [{"name": "check", "type": 2, "parameters": {"type": "fileSystem", "path": "/bin/true"}}]
)


@pytest.fixture
async def store(database_url, backend):
    async with opened_store(database_url) as opened:
        yield opened


async def pending(store, owner_id: str) -> list[str]:
    async with store.read() as conn:
        rows = await conn.execute(
            select(trigger_firings.c.source_id).where(trigger_firings.c.owner_id == owner_id)
        )
        return [r.source_id for r in rows]


async def test_triggers_are_kept_and_inherited(store):
    cls = await classes.create_class(store, name="hosts", triggers=[LATER])
    assert cls["triggers"] == [LATER]
    assert (await classes.create_class(store, name="none"))["triggers"] == []
    obj = await entities.create_object(store, name="h", parent_ids=["1"], class_id=cls["id"])
    async with store.read() as conn:
        defined = await defined_triggers(conn, EntityKind.OBJECT, obj["id"], cls["id"])
    assert [(d.source, d.source_id, d.index, d.trigger) for d in defined] == [
        ("class", cls["id"], 0, LATER)
    ]
    await set_state(store, EntityKind.OBJECT, obj["id"], 5)
    assert await pending(store, obj["id"]) == [cls["id"]]

    # A rename leaves the triggers and what they have pending alone.
    await classes.update_class(store, cls["id"], name="servers")
    assert (await classes.class_document(store, cls["id"]))["triggers"] == [LATER]
    assert await pending(store, obj["id"]) == [cls["id"]]
    # New triggers drop it; [] is kept as none.
    await classes.update_class(store, cls["id"], triggers=[])
    assert await pending(store, obj["id"]) == []
    document = await classes.class_document(store, cls["id"])
    assert document["triggers"] == [] and document["name"] == "servers"

    await classes.update_class(store, cls["id"], triggers=[LATER])
    await set_state(store, EntityKind.OBJECT, obj["id"], 8)
    await set_state(store, EntityKind.OBJECT, obj["id"], 5)
    assert await pending(store, obj["id"]) == [cls["id"]]
    await classes.delete_class(store, cls["id"])
    assert await pending(store, obj["id"]) == []


async def test_operation_triggers_name_the_classs_own_operations(store):
    cls = await classes.create_class(store, name="c", operations=[OPERATION])
    own = cls["operations"][0]["id"]
    obj = await entities.create_object(store, name="o", parent_ids=["1"])
    foreign = (await ops.create_operation(store, "object", obj["id"], OPERATION))["id"]
    good = [{"type": "operation", "states": [5], "payload": {"operation": own}}]
    await classes.update_class(store, cls["id"], triggers=good)
    bad = [*good, {"type": "operation", "states": [8], "payload": {"operation": foreign}}]
    with pytest.raises(BadRequest, match=r"triggers\[1\]\.payload\.operation: no operation"):
        await classes.update_class(store, cls["id"], name="renamed", triggers=bad)
    # Nothing of the refused change was kept, the name neither.
    document = await classes.class_document(store, cls["id"])
    assert document["triggers"] == good and document["name"] == "c"
    with pytest.raises(BadRequest):
        await classes.create_class(store, name="d", triggers=bad)
    assert [c["name"] for c in await classes.class_documents(store)] == ["c"]


async def test_a_missing_class(store):
    with pytest.raises(NotFound, match=r"Class\(nothing\)"):
        await classes.update_class(store, "nothing", triggers=[LATER])
