"""Classes (``/node/api/classes``): named sets of operations and state triggers that their
objects and links inherit.

An entity belongs to a class through its ``class_id``; nothing checks that the class exists,
as SAYMON data often names classes that were never exported. Such an entity inherits nothing.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.errors import Conflict, NotFound
from ..domain.ids import new_id
from .core import Store
from .operation_rows import insert_operations, operation_document
from .schema import classes
from .schema import operations as operations_table
from .triggers import check_operations, drop_pending


async def class_documents(store: Store, class_id: str | None = None) -> list[dict[str, Any]]:
    """All classes (or the one ``class_id``), each with its operations."""
    query = select(classes).order_by(classes.c.created, classes.c.id)
    ops = select(operations_table).where(operations_table.c.owner_kind == "class")
    if class_id is not None:
        query = query.where(classes.c.id == class_id)
        ops = ops.where(operations_table.c.owner_id == class_id)
    async with store.read() as conn:
        rows = list(await conn.execute(query))
        by_class: dict[str, list[dict[str, Any]]] = {row.id: [] for row in rows}
        for op in await conn.execute(
            ops.order_by(operations_table.c.created, operations_table.c.id)
        ):
            if op.owner_id in by_class:
                by_class[op.owner_id].append(operation_document(op))
    return [
        {
            "id": row.id,
            "name": row.name,
            "operations": by_class[row.id],
            "triggers": orjson.loads(row.triggers) if row.triggers else [],
            "created": row.created,
            "updated": row.updated,
        }
        for row in rows
    ]


async def class_document(store: Store, class_id: str) -> dict[str, Any]:
    found = await class_documents(store, class_id)
    if not found:
        raise NotFound.entity("Class", class_id)
    return found[0]


async def create_class(
    store: Store,
    *,
    name: str,
    class_id: str | None = None,
    operations: list[dict[str, Any]] = (),
    triggers: list[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A new class with its (validated) operations and state triggers, all or nothing.

    ``class_id`` lets the class IDs that imported entities name (often "25") be kept.
    """
    class_id, now = class_id or new_id(), now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(
                insert(classes).values(
                    id=class_id,
                    name=name,
                    triggers=_triggers_text(triggers),
                    created=now,
                    updated=now,
                )
            )
            await insert_operations(conn, "class", class_id, list(operations))
            await check_operations(conn, [("class", class_id)], list(triggers))
    except IntegrityError as exc:
        raise Conflict(f"Class {class_id} already exists") from exc
    return await class_document(store, class_id)


def _triggers_text(triggers: list[dict[str, Any]] | tuple) -> str | None:
    """The column's value: JSON text, NULL for none."""
    return orjson.dumps(list(triggers)).decode() if triggers else None


async def update_class(
    store: Store,
    class_id: str,
    *,
    name: str | None = None,
    triggers: list[dict[str, Any]] | None = None,
) -> None:
    """Rename the class and/or replace its state triggers (checked by domain/triggers.py).
    New triggers may only run the class's own operations; what the old ones had pending is
    dropped, as for an entity's own (store/triggers.py)."""
    values: dict[str, Any] = {"updated": now_ms()}
    if name is not None:
        values["name"] = name
    if triggers is not None:
        values["triggers"] = _triggers_text(triggers)
    async with store.write() as conn:
        result = await conn.execute(update(classes).where(classes.c.id == class_id).values(values))
        if result.rowcount == 0:
            raise NotFound.entity("Class", class_id)
        if triggers is not None:
            await check_operations(conn, [("class", class_id)], triggers)
            await drop_pending(conn, source_id=class_id)


async def delete_class(store: Store, class_id: str) -> None:
    """Delete a class, its operations and its triggers' pending firings; its entities keep
    their class_id and inherit nothing more (their jobs keep the operation's name)."""
    async with store.write() as conn:
        result = await conn.execute(delete(classes).where(classes.c.id == class_id))
        if result.rowcount == 0:
            raise NotFound.entity("Class", class_id)
        await conn.execute(
            delete(operations_table).where(
                operations_table.c.owner_kind == "class", operations_table.c.owner_id == class_id
            )
        )
        await drop_pending(conn, source_id=class_id)
