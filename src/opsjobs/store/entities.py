"""Objects and links: rows, documents and changes, kept in step with the directory."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import orjson
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, Conflict, NotFound
from ..domain.ids import ROOT_OBJECT_ID, new_id
from ..domain.kinds import EntityKind
from ..domain.properties import check_total, from_input, touches_service, with_ids
from . import entities_sqlite, states_sqlite
from .core import Store
from .db import bump_revision
from .entity_documents import Tree, link_document_of, object_document_of
from .immediate import NOT_WRITTEN, try_immediate_write
from .operation_rows import insert_operations, operation_document
from .properties import ServiceCheck, current_records, write_records
from .schema import links, object_parents, objects, operations
from .states import announce, change_state, record_change, set_state
from .tags import check_tags
from .triggers import drop_pending


async def _operations_by_owner(
    conn, owner_kind: str, owner_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk_start in range(0, len(owner_ids), 500):
        chunk = owner_ids[chunk_start : chunk_start + 500]
        rows = await conn.execute(
            select(operations)
            .where(operations.c.owner_kind == owner_kind, operations.c.owner_id.in_(chunk))
            .order_by(operations.c.created, operations.c.id)
        )
        for row in rows:
            found[row.owner_id].append(operation_document(row))
    return found


async def effective_operations(
    conn, owner_kind: str, class_of: dict[str, str | None]
) -> dict[str, list[dict[str, Any]]]:
    """Each entity's operations: its own, then those it inherits from its class.

    ``class_of`` maps entity IDs (of ``owner_kind``, "object" or "link") to their class_id.
    """
    own = await _operations_by_owner(conn, owner_kind, list(class_of))
    class_ids = sorted({c for c in class_of.values() if c})
    inherited = await _operations_by_owner(conn, "class", class_ids)
    return {
        entity_id: own.get(entity_id, []) + (inherited.get(class_id, []) if class_id else [])
        for entity_id, class_id in class_of.items()
    }


def _chunks(ids: list[str], size: int = 500):
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


async def _tree(conn, object_ids: list[str]) -> Tree:
    tree = Tree()
    source_end, target_end = object_parents.alias("s"), object_parents.alias("t")
    for chunk in _chunks(object_ids):
        rows = await conn.execute(
            select(object_parents.c.parent_id, object_parents.c.object_id)
            .where(object_parents.c.parent_id.in_(chunk))
            .order_by(object_parents.c.parent_id, object_parents.c.object_id)
        )
        for row in rows:
            tree.children.setdefault(row.parent_id, []).append(row.object_id)
        rows = await conn.execute(
            select(source_end.c.parent_id, links.c.id)
            .select_from(
                links.join(source_end, source_end.c.object_id == links.c.source).join(
                    target_end,
                    and_(
                        target_end.c.object_id == links.c.target,
                        target_end.c.parent_id == source_end.c.parent_id,
                    ),
                )
            )
            .where(source_end.c.parent_id.in_(chunk))
            .order_by(source_end.c.parent_id, links.c.id)
        )
        for row in rows:
            tree.links.setdefault(row.parent_id, []).append(row.id)
    return tree


async def object_documents(store: Store, object_ids: list[str]) -> list[dict[str, Any]]:
    """Documents of the given objects, in the given order (missing ones left out)."""
    out: dict[str, dict[str, Any]] = {}
    async with store.read() as conn:
        rows = []
        for chunk in _chunks(object_ids):
            rows += await conn.execute(select(objects).where(objects.c.id.in_(chunk)))
        ops = await effective_operations(conn, "object", {r.id: r.class_id for r in rows})
        tree = await _tree(conn, [r.id for r in rows])
        for row in rows:
            parents = list(store.directory.parents.get(row.id, ()))
            out[row.id] = object_document_of(row, parents, ops[row.id], tree)
    return [out[i] for i in object_ids if i in out]


async def object_document(store: Store, object_id: str) -> dict[str, Any]:
    found = await object_documents(store, [object_id])
    if not found:
        raise NotFound.entity(EntityKind.OBJECT.label, object_id)
    return found[0]


async def object_id_by_discovery(store: Store, discovery_id: str) -> str | None:
    async with store.read() as conn:
        return (
            await conn.execute(select(objects.c.id).where(objects.c.discovery_id == discovery_id))
        ).scalar_one_or_none()


async def _names(conn, object_ids: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    for chunk in _chunks(sorted(object_ids)):
        rows = await conn.execute(
            select(objects.c.id, objects.c.name).where(objects.c.id.in_(chunk))
        )
        names.update({row.id: row.name for row in rows})
    return names


async def link_documents(store: Store, link_ids: list[str]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    async with store.read() as conn:
        rows = []
        for chunk in _chunks(link_ids):
            rows += await conn.execute(select(links).where(links.c.id.in_(chunk)))
        ops = await effective_operations(conn, "link", {r.id: r.class_id for r in rows})
        names = await _names(conn, {end for r in rows for end in (r.source, r.target)})
        for row in rows:
            out[row.id] = link_document_of(row, ops[row.id], names)
    return [out[i] for i in link_ids if i in out]


async def link_document(store: Store, link_id: str) -> dict[str, Any]:
    found = await link_documents(store, [link_id])
    if not found:
        raise NotFound.entity(EntityKind.LINK.label, link_id)
    return found[0]


def _require_objects(store: Store, ids: list[str], what: str) -> None:
    for object_id in ids:
        if not store.directory.object_exists(object_id):
            raise BadRequest(f"{what}: no such object {object_id}")


# -- the tree, checked against the database inside the changing transaction -----------------
#
# The in-memory directory may be a moment behind another server's change, so what decides is
# the database. Each transaction that changes the tree bumps the directory revision first:
# that locks the revision's row until commit (SQLite's writer holds the whole database
# already), so such changes run one after another across all processes and each one's checks
# see every change committed before it. Two changes that each look harmless cannot together
# close a loop.


async def _lock_tree(conn) -> int:
    """Take the directory's write turn; the new revision."""
    return await bump_revision(conn)


async def _check_parents(conn, object_id: str, parent_ids: list[str]) -> None:
    """400 unless every parent exists and none of them lies below ``object_id`` (or is it):
    the change must not make the object its own ancestor. The message names the loop."""
    if object_id in parent_ids:
        raise BadRequest("parent_id: an object cannot be its own parent")
    found = {
        r.id for r in await conn.execute(select(objects.c.id).where(objects.c.id.in_(parent_ids)))
    }
    for parent in parent_ids:
        if parent not in found:
            raise BadRequest(f"parent_id: no such object {parent}")
    # Every parent edge above the new parents, in one recursive query; UNION (not UNION ALL)
    # ends it even on a loop left by older data.
    seed = select(objects.c.id.label("id")).where(objects.c.id.in_(parent_ids))
    above = seed.cte("above", recursive=True)
    above = above.union(
        select(object_parents.c.parent_id).join(above, object_parents.c.object_id == above.c.id)
    )
    edges: dict[str, list[str]] = defaultdict(list)
    rows = await conn.execute(
        select(object_parents.c.object_id, object_parents.c.parent_id).where(
            object_parents.c.object_id.in_(select(above.c.id))
        )
    )
    for row in rows:
        edges[row.object_id].append(row.parent_id)
    for parent in parent_ids:
        path = _path_up(parent, object_id, edges)
        if path is not None:
            loop = " → ".join([object_id, *path])
            raise BadRequest(
                f"parent_id: {parent} lies below {object_id}, so this would make a loop: {loop}"
            )


def _path_up(start: str, goal: str, edges: dict[str, list[str]]) -> list[str] | None:
    """The chain start → parent → ... → goal along ``edges``, or None: breadth first, so the
    shortest, and each object visited once."""
    came_from: dict[str, str | None] = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            if node == goal:
                path = []
                step: str | None = node
                while step is not None:
                    path.append(step)
                    step = came_from[step]
                return path[::-1]
            for parent in edges.get(node, ()):
                if parent not in came_from:
                    came_from[parent] = node
                    following.append(parent)
        frontier = following
    return None


async def create_object(
    store: Store,
    *,
    name: str,
    parent_ids: list[str],
    class_id: str | None = None,
    properties: Any = None,
    object_id: str | None = None,
    operations: list[dict[str, Any]] = (),
    fields: dict[str, Any] | None = None,
    on_service: ServiceCheck | None = None,
) -> dict[str, Any]:
    """A new object with its own (validated) operations, all or nothing. ``fields`` holds
    SAYMON's further fields as the API names them (``discovery_id``, ``tags``, …);
    ``on_service`` refuses Service properties among ``properties``, as every change does."""
    parent_ids = list(dict.fromkeys(parent_ids or [ROOT_OBJECT_ID]))
    _require_objects(store, parent_ids, "parent_id")
    records = _new_records(properties, on_service)
    object_id = object_id or new_id()
    now = now_ms()
    try:
        async with store.write() as conn:
            revision = await _lock_tree(conn)
            # A new object has nothing below it, unless old rows name it as a parent.
            await _check_parents(conn, object_id, parent_ids)
            values = await _entity_values(conn, {**(fields or {}), "class_id": class_id}, now)
            await conn.execute(
                insert(objects).values(
                    id=object_id,
                    name=name,
                    properties=orjson.dumps(records).decode(),
                    created=now,
                    **{"last_state_update": now, **values},
                )
            )
            await _write_parents(conn, object_id, parent_ids)
            await insert_operations(conn, "object", object_id, list(operations))
            change = await _enter_first_state(conn, store, EntityKind.OBJECT, object_id, values)
    except IntegrityError as exc:
        raise Conflict(_taken(object_id, fields)) from exc
    announce(store, change)
    if not store.directory.put_object(revision, object_id, tuple(parent_ids)):
        await store.reload_directory()
    return await object_document(store, object_id)


async def _enter_first_state(conn, store, kind: EntityKind, entity_id: str, values: dict):
    """A new entity enters its first state: recorded as every change is, and its class's
    triggers for that state fire."""
    return await record_change(
        conn,
        store,
        kind,
        entity_id,
        values.get("state_id", 1),
        at=values["updated"],
        class_id=values.get("class_id"),
    )


def _new_records(properties: Any, on_service: ServiceCheck | None) -> list[dict[str, Any]]:
    """The records of a new entity's properties. Creating one with a Service property adds
    that property, so it is held to the same check as adding it through ``/props``."""
    records = with_ids(from_input(properties), []) if properties is not None else []
    if on_service is not None and touches_service([], records):
        on_service()
    check_total(0, len(orjson.dumps(records)))
    return records


def _taken(object_id: str, fields: dict[str, Any] | None) -> str:
    discovery_id = (fields or {}).get("discovery_id")
    if discovery_id is not None:
        return f"discovery_id: an object with discovery ID {discovery_id!r} exists already"
    return f"Object {object_id} already exists"


async def _write_parents(conn, object_id: str, parent_ids: list[str]) -> None:
    await conn.execute(delete(object_parents).where(object_parents.c.object_id == object_id))
    await conn.execute(
        insert(object_parents),
        [{"object_id": object_id, "parent_id": p, "position": i} for i, p in enumerate(parent_ids)],
    )


async def update_object(
    store: Store,
    object_id: str,
    changes: dict[str, Any],
    *,
    user_id: str | None = None,
    on_service: ServiceCheck | None = None,
) -> dict[str, Any]:
    """Apply validated changes: any field of the object a client may set (docs/api.md §11);
    ``parent_id`` as a list."""
    if object_id not in store.directory.parents:
        raise NotFound.entity(EntityKind.OBJECT.label, object_id)
    if set(changes) == {"state_id"}:
        answer = await _state_at_once(store, EntityKind.OBJECT, object_id, changes, user_id)
        if answer is not None:
            return answer
    parent_ids = changes.pop("parent_id", None)
    if parent_ids is not None:
        parent_ids = _new_parents(store, object_id, parent_ids)
    try:
        async with store.write() as conn:
            revision = None
            if parent_ids is not None:
                revision = await _lock_tree(conn)
                await _check_parents(conn, object_id, parent_ids)
            await _lock_tags(conn, changes)
            started = await _change_properties(
                conn, store, "object", object_id, changes, user_id, on_service
            )
            state_id = changes.pop("state_id", None)
            values = await _entity_values(conn, changes, now_ms())
            result = await conn.execute(
                update(objects).where(objects.c.id == object_id).values(**values)
            )
            if result.rowcount == 0:
                raise NotFound.entity(EntityKind.OBJECT.label, object_id)
            if parent_ids is not None:
                await _write_parents(conn, object_id, parent_ids)
            change = await _new_state(conn, store, EntityKind.OBJECT, object_id, state_id, user_id)
    except IntegrityError as exc:
        raise Conflict(_taken(object_id, changes)) from exc
    announce(store, change, started)
    if revision is not None and not store.directory.put_object(
        revision, object_id, tuple(parent_ids)
    ):
        await store.reload_directory()
    return await object_document(store, object_id)


async def _new_state(conn, store, kind: EntityKind, entity_id: str, state_id, user_id):
    """A PATCH's ``state_id``, changed as every change of state is (store/states.py)."""
    if state_id is None:
        return None
    return await change_state(conn, store, kind, entity_id, state_id, user_id=user_id)


async def _state_at_once(
    store: Store,
    kind: EntityKind,
    entity_id: str,
    changes: dict[str, Any],
    user_id: str | None,
    *,
    touch: bool = True,
) -> dict[str, Any] | None:
    """A change of ``state_id`` alone, and the entity's document after it, on SQLite in one
    synchronous step through the immediate writer (store/states_sqlite.py): the document is
    built from the row the change read, in the same transaction. ``touch``: a PATCH, which
    marks the entity updated even when its state stays. None when that cannot be done now
    (PostgreSQL, or the write lock held by another process): the caller takes the async
    path, which does the same."""
    if store.immediate is None:
        return None
    state_id = changes["state_id"]

    def work(conn) -> tuple:
        row, change = states_sqlite.change_state(
            conn, kind, entity_id, state_id, at=now_ms(), user_id=user_id, touch=touch
        )
        if kind is EntityKind.LINK:
            return change, entities_sqlite.link_document(conn, row)
        parents = list(store.directory.parents.get(entity_id, ()))
        return change, entities_sqlite.object_document(conn, row, parents)

    done = await try_immediate_write(store.immediate, work)
    if done is NOT_WRITTEN:
        # Most often the lock is this process's own async writer's, in the middle of a
        # transaction (the dispatcher's): once that is over, the write can be done at once.
        async with store.writer_turn():
            done = await try_immediate_write(store.immediate, work)
    if done is NOT_WRITTEN:
        return None
    change, document = done
    announce(store, change)
    return document


async def set_entity_state(
    store: Store, kind: EntityKind, entity_id: str, state_id: int, *, user_id: str | None
) -> dict[str, Any]:
    """Set the entity's state (``PUT …/state``) and answer its document as it is then."""
    changes = {"state_id": state_id}
    answer = await _state_at_once(store, kind, entity_id, changes, user_id, touch=False)
    if answer is not None:
        return answer
    await set_state(store, kind, entity_id, state_id, user_id=user_id)
    if kind is EntityKind.LINK:
        return await link_document(store, entity_id)
    return await object_document(store, entity_id)


def _new_parents(store: Store, object_id: str, parent_ids: list[str]) -> list[str]:
    parent_ids = list(dict.fromkeys(parent_ids))
    if object_id == ROOT_OBJECT_ID:
        raise BadRequest("parent_id: the root object has no parent")
    if object_id in parent_ids:
        raise BadRequest("parent_id: an object cannot be its own parent")
    _require_objects(store, parent_ids, "parent_id")
    return parent_ids


async def _lock_tags(conn, changes: dict[str, Any]) -> None:
    """Check (and lock) the tags a change sets before the entity's own row is locked: a
    rename or delete of a tag locks the tag, then its carriers, so every transaction takes
    the two in that order and none waits for the other in a circle."""
    if changes.get("tags") is not None:
        changes["tags"] = await check_tags(conn, changes["tags"])


async def _change_properties(conn, store, kind, entity_id, changes, user_id, on_service) -> int:
    """Replace the entity's properties with ``changes["properties"]``, if given: a property
    that keeps its name keeps its ID, and its value's change is recorded as every change is
    (store/properties.py). Answers how many firings the change started."""
    if "properties" not in changes:
        return 0
    sent = changes.pop("properties")
    before = await current_records(conn, kind, entity_id)
    after = with_ids(from_input(sent), before)
    return await write_records(
        conn, store, kind, entity_id, before, after, user_id=user_id, on_service=on_service
    )


# API field -> column, where they differ; and the fields kept as JSON text.
_COLUMNS = {"geopositionRadius": "geoposition_radius"}
_JSON_FIELDS = frozenset({"client_data", "manual_state", "geoposition", "object_groups", "tags"})


async def _entity_values(conn, changes: dict[str, Any], now: int) -> dict[str, Any]:
    """Column values for ``changes`` (without parents and properties), tags checked."""
    values: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "tags":
            value = await check_tags(conn, value)
        if key in _JSON_FIELDS and value is not None:
            value = orjson.dumps(value).decode()
        values[_COLUMNS.get(key, key)] = value
    values["updated"] = now
    return values


async def delete_object(store: Store, object_id: str) -> None:
    """Delete an object, and the links that end at it (a link needs both its ends).

    An object that still has children is refused: deleting it would leave them with a parent
    that names nothing, which silently changes who may see them. Their jobs stay (see
    Directory.can_see_owner).
    """
    if object_id == ROOT_OBJECT_ID:
        raise BadRequest("id: the root object cannot be deleted")
    async with store.write() as conn:
        revision = await _lock_tree(conn)
        child = (
            await conn.execute(
                select(object_parents.c.object_id)
                .where(object_parents.c.parent_id == object_id)
                .limit(1)
            )
        ).first()
        if child is not None:
            raise Conflict(
                f"Object({object_id}) has children: delete them or move them elsewhere first"
            )
        result = await conn.execute(delete(objects).where(objects.c.id == object_id))
        if result.rowcount == 0:
            raise NotFound.entity(EntityKind.OBJECT.label, object_id)
        await conn.execute(delete(object_parents).where(object_parents.c.object_id == object_id))
        attached = or_(links.c.source == object_id, links.c.target == object_id)
        link_ids = [r.id for r in await conn.execute(select(links.c.id).where(attached))]
        await conn.execute(delete(links).where(attached))
        owners = [object_id, *link_ids]
        await conn.execute(delete(operations).where(operations.c.owner_id.in_(owners)))
        await drop_pending(conn, owner_ids=owners)
    if link_ids or not store.directory.drop_object(revision, object_id):
        await store.reload_directory()


async def create_link(
    store: Store,
    *,
    source: str,
    target: str,
    name: str = "",
    class_id: str | None = None,
    properties: Any = None,
    operations: list[dict[str, Any]] = (),
    fields: dict[str, Any] | None = None,
    on_service: ServiceCheck | None = None,
) -> dict[str, Any]:
    """A new link with its own (validated) operations, all or nothing; ``on_service`` as
    for create_object."""
    _require_objects(store, [source], "source")
    _require_objects(store, [target], "target")
    records = _new_records(properties, on_service)
    link_id = new_id()
    now = now_ms()
    async with store.write() as conn:
        revision = await _lock_tree(conn)
        await _check_ends(conn, {"source": source, "target": target})
        values = await _entity_values(conn, {**(fields or {}), "class_id": class_id}, now)
        await conn.execute(
            insert(links).values(
                id=link_id,
                name=name,
                source=source,
                target=target,
                properties=orjson.dumps(records).decode(),
                created=now,
                **{"last_state_update": now, **values},
            )
        )
        await insert_operations(conn, "link", link_id, list(operations))
        change = await _enter_first_state(conn, store, EntityKind.LINK, link_id, values)
    announce(store, change)
    if not store.directory.put_link(revision, link_id, source, target):
        await store.reload_directory()
    return await link_document(store, link_id)


async def update_link(
    store: Store,
    link_id: str,
    changes: dict[str, Any],
    *,
    user_id: str | None = None,
    on_service: ServiceCheck | None = None,
) -> dict[str, Any]:
    ends = store.directory.link_ends.get(link_id)
    if ends is None:
        raise NotFound.entity(EntityKind.LINK.label, link_id)
    for end in ("source", "target"):
        if end in changes:
            _require_objects(store, [changes[end]], end)
    if set(changes) == {"state_id"}:
        answer = await _state_at_once(store, EntityKind.LINK, link_id, changes, user_id)
        if answer is not None:
            return answer
    moves = "source" in changes or "target" in changes
    async with store.write() as conn:
        revision = None
        if moves:
            revision = await _lock_tree(conn)
            await _check_ends(conn, {k: changes[k] for k in ("source", "target") if k in changes})
        await _lock_tags(conn, changes)
        started = await _change_properties(
            conn, store, "link", link_id, changes, user_id, on_service
        )
        state_id = changes.pop("state_id", None)
        values = await _entity_values(conn, changes, now_ms())
        result = await conn.execute(
            update(links)
            .where(links.c.id == link_id)
            .values(**values)
            .returning(links.c.source, links.c.target)
        )
        row = result.first()
        if row is None:
            raise NotFound.entity(EntityKind.LINK.label, link_id)
        change = await _new_state(conn, store, EntityKind.LINK, link_id, state_id, user_id)
    announce(store, change, started)
    if revision is not None and not store.directory.put_link(
        revision, link_id, row.source, row.target
    ):
        await store.reload_directory()
    return await link_document(store, link_id)


async def _check_ends(conn, ends: dict[str, str]) -> None:
    """400 unless each end names an object that exists (in the database, under the lock)."""
    wanted = set(ends.values())
    found = {r.id for r in await conn.execute(select(objects.c.id).where(objects.c.id.in_(wanted)))}
    for end, object_id in ends.items():
        if object_id not in found:
            raise BadRequest(f"{end}: no such object {object_id}")


async def delete_link(store: Store, link_id: str) -> None:
    async with store.write() as conn:
        revision = await _lock_tree(conn)
        result = await conn.execute(delete(links).where(links.c.id == link_id))
        if result.rowcount == 0:
            raise NotFound.entity(EntityKind.LINK.label, link_id)
        await conn.execute(delete(operations).where(operations.c.owner_id == link_id))
        await drop_pending(conn, owner_ids=[link_id])
    if not store.directory.drop_link(revision, link_id):
        await store.reload_directory()
