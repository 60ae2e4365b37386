"""Entity states: a change of ``state_id``, its history, and the firings it starts.

Every change of an object's or a link's state goes through :func:`record_change`, inside
the transaction that writes the new state: the history row, the end of what the old state
had pending (a ``duration`` not yet reached, a ``periodicity`` still repeating) and the
firings of the triggers the new state matches commit together with it, or not at all. So a
change that is seen has its firings, and a firing never outlives the change it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, insert, select, update

from ..domain.clock import now_ms
from ..domain.errors import NotFound
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from .channels import FIRINGS_CHANNEL, notify
from .core import Store
from .schema import state_history, trigger_firings
from .triggers import defined_triggers, entity_table, firing_row


@dataclass(frozen=True, slots=True)
class StateChange:
    id: str
    state_id: int
    prev_state_id: int | None
    timestamp: int
    firings: int  # how many firings it started


async def record_change(
    conn,
    store: Store,
    kind: EntityKind,
    entity_id: str,
    state_id: int,
    *,
    at: int,
    user_id: str | None = None,
    job_id: str | None = None,
    prev_state_id: int | None = None,
    class_id: str | None = None,
) -> StateChange:
    """Record that the entity entered ``state_id`` at ``at`` (its row already says so)."""
    change = {
        "id": new_id(),
        "owner_id": entity_id,
        "owner_type": kind.value,
        "state_id": state_id,
        "prev_state_id": prev_state_id,
        "timestamp": at,
        "user_id": user_id,
        "job_id": job_id,
    }
    await conn.execute(insert(state_history).values(**change))
    await _leave(conn, entity_id, at)
    rows = [
        firing_row(kind, entity_id, defined, change)
        for defined in await defined_triggers(conn, kind, entity_id, class_id)
        if state_id in defined.trigger["states"]
    ]
    if rows:
        await conn.execute(insert(trigger_firings), rows)
        await notify(conn, FIRINGS_CHANNEL)
    return StateChange(change["id"], state_id, prev_state_id, at, len(rows))


async def _leave(conn, entity_id: str, at: int) -> None:
    """Leaving a state ends what it had pending: a firing not due yet (its ``duration`` not
    reached) is dropped, and one due already (the state held long enough, but no dispatcher
    has acted yet) acts once but does not repeat. Re-entering a state starts afresh."""
    pending = and_(trigger_firings.c.owner_id == entity_id, trigger_firings.c.cause == "state")
    # Most changes leave nothing pending: one read by the owner index then spares the two
    # writes (on SQLite each statement is a hop to the writer's thread and back).
    # Consistent: only this entity's state changes make its state firings, and its row is
    # locked by this transaction.
    if (await conn.execute(select(trigger_firings.c.id).where(pending).limit(1))).first() is None:
        return
    await conn.execute(delete(trigger_firings).where(pending, trigger_firings.c.due_at > at))
    await conn.execute(
        update(trigger_firings)
        .where(pending, trigger_firings.c.period_ms.is_not(None))
        .values(period_ms=None)
    )


async def change_state(
    conn,
    store: Store,
    kind: EntityKind,
    entity_id: str,
    state_id: int,
    *,
    user_id: str | None = None,
    job_id: str | None = None,
) -> StateChange | None:
    """Set the entity's state within ``conn``'s transaction; None when it is in it already
    (nothing changes, nothing is recorded). The row is locked first, so two changes of one
    entity are recorded in the order they are made."""
    table = entity_table(kind)
    row = (
        await conn.execute(
            select(table.c.state_id, table.c.class_id)
            .where(table.c.id == entity_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound.entity(kind.label, entity_id)
    if row.state_id == state_id:
        return None
    at = now_ms()
    await conn.execute(
        update(table)
        .where(table.c.id == entity_id)
        .values(state_id=state_id, last_state_update=at, updated=at)
    )
    return await record_change(
        conn,
        store,
        kind,
        entity_id,
        state_id,
        at=at,
        user_id=user_id,
        job_id=job_id,
        prev_state_id=row.state_id,
        class_id=row.class_id,
    )


async def set_state(
    store: Store,
    kind: EntityKind,
    entity_id: str,
    state_id: int,
    *,
    user_id: str | None = None,
    job_id: str | None = None,
) -> StateChange | None:
    """Set the entity's state in a transaction of its own, and wake this process's
    dispatcher when the change started a firing."""
    async with store.write() as conn:
        change = await change_state(
            conn, store, kind, entity_id, state_id, user_id=user_id, job_id=job_id
        )
    announce(store, change)
    return change


def announce(store: Store, change: StateChange | None, other_firings: int = 0) -> None:
    """After the commit: a change that started firings wakes the dispatcher here (others
    hear the NOTIFY sent in the transaction)."""
    if other_firings or (change is not None and change.firings):
        store.firings_due.set()


async def history(
    store: Store,
    *,
    owner_ids: list[str] | None,
    start: int | None,
    end: int | None,
    after: tuple[int, str] | None,
    batch: int,
) -> list[dict[str, Any]]:
    """One batch of history rows, newest first, from before ``after`` (timestamp, id)."""
    query = select(state_history).order_by(
        state_history.c.timestamp.desc(), state_history.c.id.desc()
    )
    if owner_ids is not None:
        query = query.where(state_history.c.owner_id.in_(owner_ids))
    if start is not None:
        query = query.where(state_history.c.timestamp >= start)
    if end is not None:
        query = query.where(state_history.c.timestamp <= end)
    if after is not None:
        at, last_id = after
        # The range on its own first, so that the index on the time bounds the read: each
        # batch starts where the last ended instead of sorting the whole history again.
        query = query.where(
            state_history.c.timestamp <= at,
            (state_history.c.timestamp < at)
            | and_(state_history.c.timestamp == at, state_history.c.id < last_id),
        )
    async with store.read() as conn:
        return [dict(r._mapping) for r in await conn.execute(query.limit(batch))]


async def has_history(store: Store, owner_id: str, owner_type: int) -> bool:
    """Whether any change of this entity's state is recorded (a deleted entity's history
    outlives it, as its jobs do)."""
    async with store.read() as conn:
        result = await conn.execute(
            select(state_history.c.id)
            .where(state_history.c.owner_id == owner_id, state_history.c.owner_type == owner_type)
            .limit(1)
        )
        return result.first() is not None
