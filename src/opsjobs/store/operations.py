"""Operations of objects, links and classes, and recording an execution as a queued job.

An object's or link's effective operations are its own plus those of its class (see
``entities.effective_operations``); the own ones are changed through the entity, the
inherited ones only through the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from structlog.contextvars import get_contextvars

from ..domain.clock import now_ms
from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.jobs import OWNER_LINK, OWNER_OBJECT, JobStatus
from ..domain.operations import SCRIPT, apply_update, render_spec, runner_tag, validate_new
from ..domain.spec import dump_spec
from ..domain.templates import Values, property_map
from .core import Store
from .entities import effective_operations
from .operation_rows import insert_operations, operation_document, require_script, row_values
from .queue import enqueue
from .schema import classes, links, objects, operations

_ENTITY_TABLES = {"object": objects, "link": links}
_KIND_NAMES = {"object": "Object", "link": "Link", "class": "Class"}


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


# -- execution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What executing one operation of one entity needs from the database."""

    properties: Any
    operation: dict[str, Any]
    script_text: str | None  # the stored script of a scriptReference operation, if it exists


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
# in plain SQL (see Store.row_now).
_TARGET_SQL = {
    kind: f"SELECT e.class_id, e.properties, {', '.join('o.' + f for f in _OperationRow._fields)} "
    f"FROM {table.name} e LEFT JOIN operations o ON o.id = ? WHERE e.id = ?"
    for kind, table in _ENTITY_TABLES.items()
}
_SCRIPT_SQL = "SELECT text FROM scripts WHERE id = ?"
_KEY_SQL = "SELECT id, owner_id, operation_id FROM jobs WHERE user_id = ? AND idempotency_key = ?"


async def execution_target(store: Store, kind: str, entity_id: str, operation_id: str) -> Target:
    found = await store.row_now(_TARGET_SQL[kind], (operation_id, entity_id))
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
    text = None
    parameters = document["parameters"]
    if document["type"] == SCRIPT and parameters.get("type") == "scriptReference":
        script = await store.row_now(_SCRIPT_SQL, (parameters["ref"],))
        text = None if script is None else script[0]
    return Target(orjson.loads(properties), document, text)


@dataclass(frozen=True)
class JobRef:
    """The job an idempotency key already names."""

    id: str
    owner_id: str
    operation_id: str | None


async def job_for_key(store: Store, user_id: str, key: str) -> JobRef | None:
    row = await store.row_now(_KEY_SQL, (user_id, key))
    return None if row is None else JobRef(*row)


@dataclass(frozen=True)
class Requester:
    """Who asked for a run: a user, or nobody (a state trigger)."""

    id: str | None
    login: str | None


async def queue_run(
    store: Store,
    *,
    kind: str,
    owner_id: str,
    operation_id: str,
    requester: Requester,
    args: dict[str, Any],
    default_timeout: float,
    idempotency_key: str | None = None,
    process_meta: dict[str, Any] | None = None,
) -> JobRef:
    """Render an operation for one entity and record the run as a queued job.

    The one way a job comes to be, for the execute routes and ``opsjobs exec`` alike.
    Rendering fails (400) before anything is written: a bad request leaves no job.
    """
    target = await execution_target(store, kind, owner_id, operation_id)
    values = Values(
        entity_id=owner_id,
        properties=property_map(target.properties),
        user_id=requester.id,
        user_login=requester.login,
        args=args,
    )
    spec = render_spec(
        target.operation, values, default_timeout=default_timeout, script_text=target.script_text
    )
    return await submit_job(
        store,
        {
            "id": new_id(),
            "owner_id": owner_id,
            "owner_type": OWNER_OBJECT if kind == "object" else OWNER_LINK,
            "operation_id": operation_id,
            "operation_name": target.operation["name"],
            "user_id": requester.id,
            "timestamp": now_ms(),
            "process_meta": None if process_meta is None else orjson.dumps(process_meta).decode(),
            "description": "{}",
            "results": "[]",
            "status": JobStatus.QUEUED.value,
            # The ID the API bound to this request's logging context (api/observe.py).
            "spec": dump_spec(spec, get_contextvars().get("request_id")),
            "runner_tag": runner_tag(target.operation),
            "idempotency_key": idempotency_key,
        },
    )


async def submit_job(store: Store, row: dict[str, Any]) -> JobRef:
    """Record a queued job; answers the job that holds the row's idempotency key.

    Two requests with one key can both find no job and both insert: the unique index on
    (user_id, idempotency_key) lets exactly one in, on SQLite and PostgreSQL alike, and the
    other answers the winner's job.
    """
    try:
        await enqueue(store, row)
    except IntegrityError:
        key = row.get("idempotency_key")
        winner = None if key is None else await job_for_key(store, row["user_id"], key)
        if winner is None:
            raise
        return winner
    return JobRef(row["id"], row["owner_id"], row["operation_id"])
