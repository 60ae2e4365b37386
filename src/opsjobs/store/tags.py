"""Tags (``/node/api/tags``): named labels that objects and links carry in their ``tags``, as
a list of tag IDs (docs/api.md §11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, Conflict, NotFound
from ..domain.ids import new_id
from .core import Store
from .schema import links, objects, tags

# Called with the IDs of the objects and of the links that carry a tag, inside the
# transaction that renames or deletes it; raises to refuse the change.
CarrierCheck = Callable[[list[str], list[str]], None]


def _document(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "created": row.created, "updated": row.updated}


async def tag_documents(store: Store, tag_id: str | None = None) -> list[dict[str, Any]]:
    query = select(tags).order_by(tags.c.name, tags.c.id)
    if tag_id is not None:
        query = query.where(tags.c.id == tag_id)
    async with store.read() as conn:
        return [_document(row) for row in await conn.execute(query)]


async def tag_document(store: Store, tag_id: str) -> dict[str, Any]:
    found = await tag_documents(store, tag_id)
    if not found:
        raise NotFound.entity("Tag", tag_id)
    return found[0]


async def create_tag(store: Store, name: str) -> dict[str, Any]:
    tag_id, now = new_id(), now_ms()
    try:
        async with store.write() as conn:
            await conn.execute(insert(tags).values(id=tag_id, name=name, created=now, updated=now))
    except IntegrityError as exc:
        raise Conflict(f"name: a tag named {name!r} exists already") from exc
    return await tag_document(store, tag_id)


async def _carriers(conn, table, tag_id: str) -> list[Any]:
    # Tag IDs are hex: the quoted ID matches exactly that element of the JSON list.
    query = select(table.c.id, table.c.tags).where(table.c.tags.contains(f'"{tag_id}"'))
    return list(await conn.execute(query.order_by(table.c.id)))


async def _check_carriers(conn, tag_id: str, may_change: CarrierCheck) -> tuple[list, list]:
    """The objects and links carrying the tag, once ``may_change`` allowed changing them.
    The tag's row is locked first: an entity being labelled with it meanwhile (check_tags
    locks it too) is either seen here or finds the tag gone, never left carrying a tag that
    no longer exists, nor labelled after the carriers were judged."""
    await conn.execute(select(tags.c.id).where(tags.c.id == tag_id).with_for_update())
    carrying = await _carriers(conn, objects, tag_id), await _carriers(conn, links, tag_id)
    may_change([r.id for r in carrying[0]], [r.id for r in carrying[1]])
    return carrying


async def rename_tag(
    store: Store, tag_id: str, name: str, *, may_change: CarrierCheck
) -> dict[str, Any]:
    """Rename a tag; it relabels every entity carrying it, so ``may_change`` decides on
    them first."""
    try:
        async with store.write() as conn:
            await _check_carriers(conn, tag_id, may_change)
            result = await conn.execute(
                update(tags).where(tags.c.id == tag_id).values(name=name, updated=now_ms())
            )
            if result.rowcount == 0:
                raise NotFound.entity("Tag", tag_id)
    except IntegrityError as exc:
        raise Conflict(f"name: a tag named {name!r} exists already") from exc
    return await tag_document(store, tag_id)


async def delete_tag(store: Store, tag_id: str, *, may_change: CarrierCheck) -> None:
    """Delete a tag, and take it off every object and link that carries it, once
    ``may_change`` allowed changing them."""
    async with store.write() as conn:
        carrying = await _check_carriers(conn, tag_id, may_change)
        result = await conn.execute(delete(tags).where(tags.c.id == tag_id))
        if result.rowcount == 0:
            raise NotFound.entity("Tag", tag_id)
        for table, rows in zip((objects, links), carrying, strict=True):
            for row in rows:
                kept = [t for t in orjson.loads(row.tags) if t != tag_id]
                await conn.execute(
                    update(table)
                    .where(table.c.id == row.id)
                    .values(tags=orjson.dumps(kept).decode())
                )


async def check_tags(conn, tag_ids: list[str]) -> list[str]:
    """``tag_ids`` once each, in their order; 400 naming the first that names no tag."""
    wanted = list(dict.fromkeys(tag_ids))
    found = set()
    ordered = sorted(wanted)  # rows locked in ID order by every transaction: no deadlock
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        # Locked until the entity's change commits: a rename or delete of the tag waits.
        query = select(tags.c.id).where(tags.c.id.in_(chunk)).order_by(tags.c.id).with_for_update()
        found |= {r.id for r in await conn.execute(query)}
    for tag_id in wanted:
        if tag_id not in found:
            raise BadRequest(f"tags: no such tag {tag_id}")
    return wanted
