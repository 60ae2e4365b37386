"""Operations of objects, links and classes, and what executing one reads and writes: the
entity and operation it runs (``execution_target``), the queued job (``enqueue_once``) and the
job an idempotency key already names (``job_for_key``). Rendering and the rules of executing
are service/execute.py's.

An object's or link's effective operations are its own plus those of its class (see
``entities.effective_operations``); the own ones are changed through the entity, the
inherited ones only through the class.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.errors import NotFound
from ..domain.kinds import EntityKind
from ..domain.operations import SCRIPT, apply_update, validate_new
from . import queue_pg
from .channels import QUEUED_CHANNEL
from .core import Store
from .entities import effective_operations
from .operation_rows import insert_operations, operation_document, require_script, row_values
from .queue import enqueue
from .schema import classes, links, objects, operations

_ENTITY_TABLES = {"object": objects, "link": links}
# Operations belong to an entity or to a class: the names error messages give them.
_KIND_NAMES = {kind.word: kind.label for kind in EntityKind} | {"class": "Class"}


def owner_not_found(kind: str, owner_id: str) -> NotFound:
    return NotFound.entity(_KIND_NAMES[kind], owner_id)


async def owner_exists(store: Store, kind: str, owner_id: str) -> bool:
    if kind == "object":
        return store.directory.object_exists(owner_id)
    if kind == "link":
        return store.directory.link_exists(owner_id)
    async with store.read() as conn:
        found = await conn.execute(select(classes.c.id).where(classes.c.id == owner_id))
        return found.first() is not None


async def list_operations(store: Store, kind: str, owner_id: str) -> list[dict[str, Any]]:
    """An object's or link's effective operations; a class's own."""
    async with store.read() as conn:
        class_id = None
        if kind != "class":
            table = _ENTITY_TABLES[kind]
            row = (
                await conn.execute(select(table.c.class_id).where(table.c.id == owner_id))
            ).first()
            if row is None:
                raise owner_not_found(kind, owner_id)
            class_id = row.class_id
        found = await effective_operations(conn, kind, {owner_id: class_id})
    return found[owner_id]


async def create_operation(
    store: Store, kind: str, owner_id: str, document: dict[str, Any]
) -> dict[str, Any]:
    clean = validate_new(document)
    if not await owner_exists(store, kind, owner_id):
        raise owner_not_found(kind, owner_id)
    async with store.write() as conn:
        (created,) = await insert_operations(conn, kind, owner_id, [clean])
    return created


def _own(kind: str, owner_id: str, operation_id: str):
    return (
        operations.c.id == operation_id,
        operations.c.owner_kind == kind,
        operations.c.owner_id == owner_id,
    )


async def update_operation(
    store: Store, kind: str, owner_id: str, operation_id: str, changes: dict[str, Any]
) -> dict[str, Any]:
    """PATCH one of the owner's own operations (an inherited one is a 404 here)."""
    async with store.write() as conn:
        # Locked while merged: two concurrent PATCHes of different fields both survive.
        row = (
            await conn.execute(
                select(operations).where(*_own(kind, owner_id, operation_id)).with_for_update()
            )
        ).first()
        if row is None:
            raise NotFound.entity("Operation", operation_id)
        document = apply_update(operation_document(row), changes)
        await require_script(conn, document)
        await conn.execute(
            update(operations)
            .where(operations.c.id == operation_id)
            .values(updated=now_ms(), **row_values(document))
        )
    return {"id": operation_id, **document}


async def delete_operation(store: Store, kind: str, owner_id: str, operation_id: str) -> None:
    # Jobs keep operation_id and the name they were made with: history outlives the operation.
    async with store.write() as conn:
        result = await conn.execute(delete(operations).where(*_own(kind, owner_id, operation_id)))
        if result.rowcount == 0:
            raise NotFound.entity("Operation", operation_id)


# -- what executing reads and writes (the rules: service/execute.py) ----------------------


@dataclass(frozen=True)
class Target:
    """What executing one operation of one entity needs from the database."""

    properties: Any
    operation: dict[str, Any]
    script_text: str | None  # the stored script of a scriptReference operation, if it exists
    # The rows it was read from (see cached_target), and whether it came from the cache.
    read: tuple = ()
    cached: bool = False


class _OperationRow(NamedTuple):
    id: str
    owner_kind: str
    owner_id: str
    name: str
    type: int
    description: str
    parameters: str
    popup_result: bool
    run_on_rw_modification: bool


# Part of every execute request: one indexed read of the entity and the operation together,
# in plain SQL (see Store.fetch_row).
_TARGET_SQL = {
    kind: f"SELECT e.class_id, e.properties, {', '.join('o.' + f for f in _OperationRow._fields)} "
    f"FROM {table.name} e LEFT JOIN operations o ON o.id = ? WHERE e.id = ?"
    for kind, table in _ENTITY_TABLES.items()
}
_SCRIPT_SQL = "SELECT text FROM scripts WHERE id = ?"
_KEY_SQL = "SELECT id, owner_id, operation_id FROM jobs WHERE user_id = ? AND idempotency_key = ?"


async def execution_target(store: Store, kind: str, entity_id: str, operation_id: str) -> Target:
    found = await store.fetch_row(_TARGET_SQL[kind], (operation_id, entity_id))
    if found is None:
        raise owner_not_found(kind, entity_id)
    class_id, properties, *columns = found
    row = _OperationRow(*columns)
    owned = row.id is not None and (
        (row.owner_kind == kind and row.owner_id == entity_id)
        or (row.owner_kind == "class" and row.owner_id == class_id)
    )
    if not owned:
        raise NotFound.entity("Operation", operation_id)
    document = operation_document(row)
    text = ref = None
    parameters = document["parameters"]
    if document["type"] == SCRIPT and parameters.get("type") == "scriptReference":
        ref = parameters["ref"]
        script = await store.fetch_row(_SCRIPT_SQL, (ref,))
        text = None if script is None else script[0]
    return Target(orjson.loads(properties), document, text, (class_id, properties, row, ref))


# -- PostgreSQL: the target of an execute from the last one, checked by the insert ---------

# Per store, the targets last read by executes (kind, entity, operation) -> Target. Only a
# hint: the job is inserted only if what the target was read from is still what the
# database holds (``target_unchanged``), in the insert's own statement; so an execute of a
# target seen before is one round trip, not two, and never runs what was changed since.
_TARGETS: weakref.WeakKeyDictionary[Store, dict[tuple[str, str, str], Target]] = (
    weakref.WeakKeyDictionary()
)
_TARGETS_KEPT = 1024


async def cached_target(store: Store, kind: str, entity_id: str, operation_id: str) -> Target:
    """``execution_target``, or on PostgreSQL the one an earlier execute read (``cached``):
    to be inserted with ``enqueue_once(..., checked=target)`` only."""
    if store.is_sqlite:  # its reads are calls on the loop: nothing to save
        return await execution_target(store, kind, entity_id, operation_id)
    targets = _TARGETS.setdefault(store, {})
    key = (kind, entity_id, operation_id)
    found = targets.get(key)
    if found is not None:
        return found
    target = await execution_target(store, kind, entity_id, operation_id)
    if len(targets) >= _TARGETS_KEPT:
        targets.clear()
    targets[key] = dataclasses.replace(target, cached=True)
    return target


def forget_target(store: Store, kind: str, entity_id: str, operation_id: str) -> None:
    _TARGETS.get(store, {}).pop((kind, entity_id, operation_id), None)


def target_unchanged(kind: str, entity_id: str, target: Target, first: int) -> tuple[str, list]:
    """A condition (marks from ``$first``) that holds while the entity, the operation and
    its script are as ``target`` was read from them, with its values."""
    class_id, properties, row, ref = target.read
    checks = [
        f"e.id = ${first}",
        f"e.class_id IS NOT DISTINCT FROM ${first + 1}",
        f"e.properties = ${first + 2}",
        *(f"o.{name} = ${first + 3 + n}" for n, name in enumerate(_OperationRow._fields)),
    ]
    values = [entity_id, class_id, properties, *row]
    if ref is not None:
        checks.append(
            f"(SELECT text FROM scripts WHERE id = ${first + len(values)}) "
            f"IS NOT DISTINCT FROM ${first + len(values) + 1}"
        )
        values += [ref, target.script_text]
    table = _ENTITY_TABLES[kind].name
    return f"EXISTS (SELECT 1 FROM {table} e, operations o WHERE {' AND '.join(checks)})", values


@dataclass(frozen=True)
class JobRef:
    """A queued job and what it runs (the answer of an idempotency key)."""

    id: str
    owner_id: str
    operation_id: str | None


async def job_for_key(store: Store, user_id: str | None, key: str) -> JobRef | None:
    row = await store.fetch_row(_KEY_SQL, (user_id, key))
    return None if row is None else JobRef(*row)


async def enqueue_once(
    store: Store, row: dict[str, Any], checked: tuple[str, Target] | None = None
) -> JobRef | None:
    """Insert a queued job, one per idempotency key: answers the job that holds the row's
    key, this one or the one a concurrent insert with the same key put in first.

    Two requests with one key can both find no job and both insert: the unique index on
    (user_id, idempotency_key) lets exactly one in, on SQLite and PostgreSQL alike, and the
    other answers the winner's job.

    ``checked``, (kind, target) of a target from ``cached_target``: the job is inserted only
    if the target is unchanged (None if it changed: the caller reads it again).
    """
    try:
        if checked is None or not checked[1].cached:
            await enqueue(store, row)
        else:
            kind, target = checked
            condition = target_unchanged(kind, row["owner_id"], target, len(row) + 1)
            if not await queue_pg.enqueue(store, row, QUEUED_CHANNEL, condition):
                forget_target(store, kind, row["owner_id"], row["operation_id"])
                return None
            store.jobs_queued.set()
    except IntegrityError:
        key = row.get("idempotency_key")
        winner = None if key is None else await job_for_key(store, row["user_id"], key)
        if winner is None:
            raise
        return winner
    return JobRef(row["id"], row["owner_id"], row["operation_id"])
