"""State triggers as stored: an entity's own (table ``state_triggers``) and its class's
(``classes.triggers``), and the firings a change into a state starts.

What a valid trigger is, and when it fires, is ``domain/triggers.py``'s; here they are kept,
checked against the operations an entity has, and turned into ``trigger_firings`` rows in
the transaction of the change that starts them (store/states.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, insert, select, update

from ..domain.clock import now_ms
from ..domain.errors import BadRequest, NotFound
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from ..domain.triggers import duration_ms, operations_named, period_ms
from .channels import FIRINGS_CHANNEL, notify
from .core import Store
from .schema import classes, links, objects, operations, state_triggers, trigger_firings


@dataclass(frozen=True, slots=True)
class Defined:
    """One trigger where it is defined: the entity itself or its class."""

    source: str  # "object", "link" or "class"
    source_id: str
    index: int
    trigger: dict[str, Any]


def entity_table(kind: EntityKind):
    return objects if kind is EntityKind.OBJECT else links


async def own_triggers(store: Store, kind: EntityKind, entity_id: str) -> list[dict] | None:
    """The entity's own triggers, or None when it has never had any set."""
    async with store.read() as conn:
        text = (
            await conn.execute(
                select(state_triggers.c.triggers).where(state_triggers.c.owner_id == entity_id)
            )
        ).scalar()
    return None if text is None else orjson.loads(text)


async def _class_of(conn, kind: EntityKind, entity_id: str) -> str | None:
    table = entity_table(kind)
    row = (await conn.execute(select(table.c.class_id).where(table.c.id == entity_id))).first()
    if row is None:
        raise NotFound.entity(kind.label, entity_id)
    return row.class_id


async def check_operations(conn, owners: Iterable[tuple[str, str]], triggers: list[dict]) -> None:
    """400 unless each ``operation`` trigger names an operation of one of ``owners``
    (``(owner_kind, owner_id)``: the entity and its class, or the class alone)."""
    wanted = operations_named(triggers)
    if not wanted:
        return
    found: set[str] = set()
    for owner_kind, owner_id in owners:
        rows = await conn.execute(
            select(operations.c.id).where(
                operations.c.owner_kind == owner_kind,
                operations.c.owner_id == owner_id,
                operations.c.id.in_(sorted(wanted)),
            )
        )
        found.update(r.id for r in rows)
    for n, trigger in enumerate(triggers):
        if trigger["type"] == "operation" and trigger["payload"]["operation"] not in found:
            raise BadRequest(
                f"triggers[{n}].payload.operation: no operation "
                f"{trigger['payload']['operation']} on this entity or its class"
            )


async def put_triggers(
    store: Store, kind: EntityKind, entity_id: str, triggers: list[dict]
) -> None:
    """Replace the entity's own triggers (checked by domain/triggers.py). What the old ones
    had pending is dropped: a trigger that is gone no longer fires or repeats."""
    now = now_ms()
    text = orjson.dumps(triggers).decode()
    async with store.write() as conn:
        class_id = await _class_of(conn, kind, entity_id)
        owners = [(kind.word, entity_id)] + ([("class", class_id)] if class_id else [])
        await check_operations(conn, owners, triggers)
        changed = await conn.execute(
            update(state_triggers)
            .where(state_triggers.c.owner_id == entity_id)
            .values(triggers=text, updated=now)
        )
        if changed.rowcount == 0:
            await conn.execute(
                insert(state_triggers).values(
                    owner_id=entity_id, owner_type=kind.value, triggers=text, updated=now
                )
            )
        await drop_pending(conn, source_id=entity_id)


async def drop_pending(conn, *, source_id: str | None = None, owner_ids: list[str] = ()) -> None:
    """Forget state firings not yet done: of the triggers defined at ``source_id``, or of
    the entities ``owner_ids`` (deleted)."""
    if source_id is not None:
        await conn.execute(
            delete(trigger_firings).where(
                trigger_firings.c.source_id == source_id, trigger_firings.c.cause == "state"
            )
        )
    if owner_ids:
        await conn.execute(
            delete(trigger_firings).where(trigger_firings.c.owner_id.in_(list(owner_ids)))
        )
        await conn.execute(
            delete(state_triggers).where(state_triggers.c.owner_id.in_(list(owner_ids)))
        )


async def defined_triggers(
    conn, kind: EntityKind, entity_id: str, class_id: str | None
) -> list[Defined]:
    """Every trigger that applies to the entity: its own, then its class's."""
    found: list[Defined] = []
    own = (
        await conn.execute(
            select(state_triggers.c.triggers).where(state_triggers.c.owner_id == entity_id)
        )
    ).scalar()
    for n, trigger in enumerate(orjson.loads(own) if own else []):
        found.append(Defined(kind.word, entity_id, n, trigger))
    if class_id:
        inherited = (
            await conn.execute(select(classes.c.triggers).where(classes.c.id == class_id))
        ).scalar()
        for n, trigger in enumerate(orjson.loads(inherited) if inherited else []):
            found.append(Defined("class", class_id, n, trigger))
    return found


def firing_row(
    kind: EntityKind, entity_id: str, defined: Defined, change: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``trigger_firings`` row for a trigger that the change into a state starts."""
    return {
        "id": new_id(),
        "owner_id": entity_id,
        "owner_type": kind.value,
        "cause": "state",
        "source": defined.source,
        "source_id": defined.source_id,
        "trigger_index": defined.index,
        "trigger": orjson.dumps(defined.trigger).decode(),
        "change_id": change["id"],
        "state_id": change["state_id"],
        "prev_state_id": change["prev_state_id"],
        "entered_at": change["timestamp"],
        "due_at": change["timestamp"] + duration_ms(defined.trigger),
        "period_ms": period_ms(defined.trigger),
        "fired": 0,
        "context": None,
    }


async def next_due(store: Store) -> int | None:
    """When the earliest firing is due (ms), from the index on ``due_at``: one read of the
    index's first entry, at once on SQLite (the dispatcher asks after every wake-up)."""
    return (await store.fetch_row("SELECT MIN(due_at) FROM trigger_firings", ()))[0]


async def property_firings(conn, store: Store, kind: EntityKind, entity_id: str, changes) -> int:
    """Firings for the operations that answer to changes of ReadWrite properties
    (``runOnReadWritePropertyModification``, the entity's own and its class's): one per
    change and operation, due at once. ``changes`` are ``property_changes`` rows."""
    if not changes:
        return 0
    class_id = await _class_of(conn, kind, entity_id)
    owners = operations.c.owner_id == entity_id
    if class_id:
        owners = owners | (
            (operations.c.owner_kind == "class") & (operations.c.owner_id == class_id)
        )
    flagged = list(
        await conn.execute(
            select(operations.c.id, operations.c.owner_kind, operations.c.owner_id)
            .where(owners, operations.c.run_on_rw_modification.is_(True))
            .order_by(operations.c.created, operations.c.id)
        )
    )
    rows = [_property_firing(kind, entity_id, op, change) for change in changes for op in flagged]
    if rows:
        await conn.execute(insert(trigger_firings), rows)
        await notify(conn, FIRINGS_CHANNEL)
    return len(rows)


def _property_firing(kind: EntityKind, entity_id: str, op, change: Mapping[str, Any]) -> dict:
    context = {
        "propertyId": change["property_id"],
        "name": change["name"],
        "oldValue": orjson.loads(change["old_value"]),
        "value": orjson.loads(change["new_value"]),
        "userId": change["user_id"],
        "at": change["at"],
    }
    return {
        "id": new_id(),
        "owner_id": entity_id,
        "owner_type": kind.value,
        "cause": "property",
        "source": op.owner_kind,
        "source_id": op.owner_id,
        "trigger_index": 0,
        "trigger": orjson.dumps({"type": "operation", "payload": {"operation": op.id}}).decode(),
        "change_id": change["id"],
        "state_id": None,
        "prev_state_id": None,
        "entered_at": change["at"],
        "due_at": change["at"],
        "period_ms": None,
        "fired": 0,
        "context": orjson.dumps(context).decode(),
    }
