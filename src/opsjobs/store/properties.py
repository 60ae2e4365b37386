"""Properties of objects and links as records (domain/properties.py), stored with their
entity, and the one place where a change of a ReadWrite property is recorded.

A change of a ReadWrite property's value, through ``/props`` or through ``PATCH`` of the
entity's ``properties``, always passes ``write_records``, which writes a ``property_changes``
row in the same transaction: what state triggers and operations with
``runOnReadWritePropertyModification`` will hook into (docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import Table, insert, select, update

from ..domain import properties as props
from ..domain.clock import now_ms
from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from .core import Store
from .schema import links, objects, property_changes
from .triggers import property_firings

KINDS: dict[str, tuple[Table, int, str]] = {
    "object": (objects, EntityKind.OBJECT.value, EntityKind.OBJECT.label),
    "link": (links, EntityKind.LINK.value, EntityKind.LINK.label),
}
ServiceCheck = Callable[[], None]


async def current_records(conn, kind: str, entity_id: str) -> list[dict[str, Any]]:
    """The entity's property records, its row locked until the transaction ends (another
    change of its properties waits: names stay unique)."""
    table, _, label = KINDS[kind]
    row = (
        await conn.execute(
            select(table.c.properties).where(table.c.id == entity_id).with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound.entity(label, entity_id)
    return props.stored(orjson.loads(row.properties))


async def write_records(
    conn,
    store: Store,
    kind: str,
    entity_id: str,
    before: list[dict[str, Any]],
    after: list[dict[str, Any]],
    *,
    user_id: str | None,
    on_service: ServiceCheck | None,
) -> int:
    """Store ``after`` as the entity's properties; ``on_service`` refuses (raises) when the
    change touches a Service property and the caller may not. Answers how many firings the
    change started (operations that answer to ReadWrite changes): the caller wakes the
    dispatcher once the transaction has committed (``store.firings_due``)."""
    if on_service is not None and props.touches_service(before, after):
        on_service()
    encoded = orjson.dumps(after)
    props.check_total(len(orjson.dumps(before)), len(encoded))
    table, owner_type, _ = KINDS[kind]
    now = now_ms()
    await conn.execute(
        update(table)
        .where(table.c.id == entity_id)
        .values(properties=encoded.decode(), updated=now)
    )
    changes = await _record_changes(conn, owner_type, entity_id, before, after, user_id, now)
    return await property_firings(conn, store, EntityKind(owner_type), entity_id, changes)


async def _record_changes(conn, owner_type, owner_id, before, after, user_id, now) -> list[dict]:
    rows = [
        {
            "id": new_id(),
            "owner_id": owner_id,
            "owner_type": owner_type,
            "property_id": record["id"],
            "name": record["name"],
            "old_value": orjson.dumps(old).decode(),
            "new_value": orjson.dumps(record["value"]).decode(),
            "user_id": user_id,
            "at": now,
        }
        for record, old in props.read_write_changes(before, after)
    ]
    if rows:
        await conn.execute(insert(property_changes), rows)
    return rows


async def property_changes_of(store: Store, owner_id: str) -> list[dict[str, Any]]:
    """The recorded ReadWrite changes of one entity, oldest first."""
    async with store.read() as conn:
        rows = await conn.execute(
            select(property_changes)
            .where(property_changes.c.owner_id == owner_id)
            .order_by(property_changes.c.at, property_changes.c.id)
        )
        return [
            {
                **row._asdict(),
                "old_value": orjson.loads(row.old_value),
                "new_value": orjson.loads(row.new_value),
            }
            for row in rows
        ]


# -- the /props routes ----------------------------------------------------------------------


async def list_properties(store: Store, kind: str, entity_id: str) -> list[dict[str, Any]]:
    async with store.read() as conn:
        table, owner_type, label = KINDS[kind]
        row = (
            await conn.execute(select(table.c.properties).where(table.c.id == entity_id))
        ).first()
    if row is None:
        raise NotFound.entity(label, entity_id)
    return props.shown(props.stored(orjson.loads(row.properties)), entity_id, owner_type)


async def add_property(
    store: Store,
    kind: str,
    entity_id: str,
    sent: dict[str, Any],
    *,
    user_id: str | None,
    on_service: ServiceCheck | None,
) -> dict[str, Any]:
    """A new property; its name must be new to the entity (400 naming it otherwise)."""
    entry = props.from_input([sent], "body")[0]
    async with store.write() as conn:
        before = await current_records(conn, kind, entity_id)
        record = {"id": new_id(), **entry}
        after = [*before, record]
        props.unique_names(after, "name")
        started = await write_records(
            conn, store, kind, entity_id, before, after, user_id=user_id, on_service=on_service
        )
    if started:
        store.firings_due.set()
    return props.shown([record], entity_id, KINDS[kind][1])[0]


async def update_property(
    store: Store,
    kind: str,
    entity_id: str,
    property_id: str,
    changes: dict[str, Any],
    *,
    user_id: str | None,
    on_service: ServiceCheck | None,
) -> dict[str, Any]:
    async with store.write() as conn:
        before = await current_records(conn, kind, entity_id)
        found = next((r for r in before if r["id"] == property_id), None)
        if found is None:
            raise NotFound.entity("Property", property_id)
        merged = {k: v for k, v in {**found, **changes}.items() if k != "id"}
        record = {"id": property_id, **props.from_input([merged], "body")[0]}
        after = [record if r["id"] == property_id else r for r in before]
        props.unique_names(after, "name")
        started = await write_records(
            conn, store, kind, entity_id, before, after, user_id=user_id, on_service=on_service
        )
    if started:
        store.firings_due.set()
    return props.shown([record], entity_id, KINDS[kind][1])[0]


async def delete_property(
    store: Store, kind: str, entity_id: str, property_id: str, *, on_service: ServiceCheck | None
) -> None:
    async with store.write() as conn:
        before = await current_records(conn, kind, entity_id)
        after = [r for r in before if r["id"] != property_id]
        if len(after) == len(before):
            raise NotFound.entity("Property", property_id)
        await write_records(
            conn, store, kind, entity_id, before, after, user_id=None, on_service=on_service
        )
