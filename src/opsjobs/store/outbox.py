"""The messages triggers send, as their senders see them: ``trigger_deliveries`` rows of
type ``e-mail``, ``sms`` or ``voiceCall`` taken, sent and finished (docs/api.md, "Trigger
actions: messages").

A row moves pending → sending → delivered / failed / not-delivered, each step one statement
guarded by the status it expects:
- ``claim_pending``: pending (or sending whose lease ran out: its sender died) → sending,
  ``lease_until`` = now + lease, ``attempts`` + 1. On PostgreSQL the rows are locked
  ``FOR UPDATE SKIP LOCKED``, so senders in several processes take different rows without
  waiting; on SQLite the write transaction holds the database's one write lock.
- ``finish``: sending → a final status, with a detail;
- ``retry_later``: sending → pending, not before a given time (kept in ``lease_until``),
  or failed once the attempts are spent.

``attempt`` (the row's ``attempts`` as the claim left it) makes the finishing statements
apply only to the claim they belong to: a sender that outlived its lease cannot record over
the sender that took the row after it.

Every scan is of the open rows only, through the partial index
``ix_trigger_deliveries_open`` (``status IN ('pending', 'sending')``): finished rows, however
many, cost nothing to a sender that finds nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import BigInteger, Text, case, func, literal, null, or_, select, text, update

from ..domain.kinds import EntityKind
from ..domain.messages import FAILED, FINAL, MESSAGE_TYPES, PENDING, SENDING, bounded
from . import retry
from .core import Store
from .schema import links, objects, state_history, trigger_deliveries

d = trigger_deliveries

# Word for word the partial index's condition: SQLite uses a partial index only for a query
# whose WHERE holds the index's own terms, with the same literals.
_OPEN = text("status IN ('pending', 'sending')")
_MESSAGES = "type IN (" + ", ".join(f"'{t}'" for t in sorted(MESSAGE_TYPES)) + ")"
_FIRST_READY = (
    "SELECT id FROM trigger_deliveries WHERE status IN ('pending', 'sending') "
    f"AND {_MESSAGES} AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    id: str
    type: str
    recipient: str | None
    owner_id: str
    owner_type: int
    change_id: str | None
    due_at: int
    fired_at: int
    late: bool
    attempts: int  # this attempt's number, from 1; what finish and retry_later are given


_COLUMNS = (
    d.c.id,
    d.c.type,
    d.c.recipient,
    d.c.owner_id,
    d.c.owner_type,
    d.c.change_id,
    d.c.due_at,
    d.c.fired_at,
    d.c.late,
    d.c.attempts,
)


def _ready(now: int):
    """Open and free to take: pending and due (a retry waits in ``lease_until``), or held
    by a sender whose lease ran out."""
    return (
        _OPEN,
        d.c.type.in_(sorted(MESSAGE_TYPES)),
        or_(d.c.lease_until.is_(None), d.c.lease_until <= now),
    )


async def anything_ready(store: Store, now: int) -> bool:
    """Whether a claim would find a row: one read of the open rows' index, on SQLite on the
    loop, so that a sender woken for nothing costs no write transaction."""
    return await store.fetch_row(_FIRST_READY, (now,)) is not None


async def claim_pending(store: Store, now: int, lease_ms: int, limit: int) -> list[ClaimedDelivery]:
    """Take up to ``limit`` rows to send, oldest first, for ``lease_ms``; each one's
    ``attempts`` counts this attempt."""
    if limit <= 0 or not await anything_ready(store, now):
        return []
    oldest = select(d.c.id).where(*_ready(now)).order_by(d.c.fired_at, d.c.id).limit(limit)
    if store.is_sqlite:
        chosen = d.c.id.in_(oldest.scalar_subquery())
    else:
        # Materialized: PostgreSQL may run an IN (subquery) more than once and so take more
        # rows than the limit; SKIP LOCKED: what another sender is taking is left to it.
        locked = oldest.with_for_update(skip_locked=True).cte("claimable")
        chosen = d.c.id == locked.prefix_with("MATERIALIZED").c.id
    statement = (
        update(d)
        .where(chosen, *_ready(now))
        .values(status=SENDING, lease_until=now + lease_ms, attempts=d.c.attempts + 1)
        .returning(*_COLUMNS)
    )

    async def work(conn) -> list[ClaimedDelivery]:
        return [ClaimedDelivery(*row) for row in await conn.execute(statement)]

    claimed = await retry.write(store, work, "claim deliveries")
    return sorted(claimed, key=lambda c: (c.fired_at, c.id))


def _logged(attempt: int | None, now: int, outcome: str, detail: str):
    """The row's attempt history with this attempt's end appended (one JSON line)."""
    entry = {"attempt": attempt, "at": now, "outcome": outcome, "detail": bounded(detail)}
    line = orjson.dumps(entry).decode() + "\n"
    return func.coalesce(d.c.history, "") + literal(line, Text)


def _held(delivery_id: str, attempt: int | None) -> list[Any]:
    held = [d.c.id == delivery_id, d.c.status == SENDING]
    if attempt is not None:
        held.append(d.c.attempts == attempt)
    return held


async def finish(
    store: Store,
    delivery_id: str,
    status: str,
    detail: str,
    now: int,
    *,
    attempt: int | None = None,
) -> bool:
    """Record how the delivery ended (``delivered``, ``failed`` or ``not-delivered``);
    False when it was no longer this sender's to finish."""
    if status not in FINAL:
        raise ValueError(f"not a final status of a delivery: {status!r}")
    statement = (
        update(d)
        .where(*_held(delivery_id, attempt))
        .values(
            status=status,
            detail=bounded(detail),
            finished=now,
            lease_until=None,
            history=_logged(attempt, now, status, detail),
        )
    )

    async def work(conn) -> int:
        return (await conn.execute(statement)).rowcount

    return await retry.write(store, work, "finish delivery") == 1


async def retry_later(
    store: Store,
    delivery_id: str,
    at: int,
    detail: str,
    *,
    attempts_max: int,
    now: int,
    attempt: int | None = None,
) -> str | None:
    """Put the delivery back to ``pending``, not to be taken before ``at``; once it has
    had ``attempts_max`` attempts it is ``failed`` instead. Answers the status it now has,
    or None when it was no longer this sender's."""
    spent = d.c.attempts >= attempts_max
    statement = (
        update(d)
        .where(*_held(delivery_id, attempt))
        .values(
            status=case((spent, literal(FAILED)), else_=literal(PENDING)),
            lease_until=case((spent, null()), else_=literal(at, BigInteger)),
            finished=case((spent, literal(now, BigInteger)), else_=null()),
            detail=case(
                (spent, literal(bounded(f"gave up after {attempts_max} attempts: {detail}"))),
                else_=literal(bounded(detail)),
            ),
            history=_logged(attempt, now, "failed, to be tried again", detail),
        )
        .returning(d.c.status)
    )

    async def work(conn) -> str | None:
        return (await conn.execute(statement)).scalar()

    return await retry.write(store, work, "retry delivery")


async def next_attempt_at(store: Store) -> int | None:
    """When the earliest open delivery is due to be taken (ms; 0 for at once), or None when
    there is none: for a sender's wait between passes."""
    query = select(func.min(func.coalesce(d.c.lease_until, 0))).where(
        _OPEN, d.c.type.in_(sorted(MESSAGE_TYPES))
    )
    async with store.read() as conn:
        return (await conn.execute(query)).scalar()


@dataclass(frozen=True, slots=True)
class Facts:
    """What a message says, read when it is sent: the entity as it is named now, and the
    state change that started it."""

    entity_name: str | None  # None: the entity is gone
    state_id: int | None
    prev_state_id: int | None
    changed_at: int | None


async def message_facts(store: Store, delivery: ClaimedDelivery) -> Facts:
    table = objects if delivery.owner_type == EntityKind.OBJECT.value else links
    async with store.read() as conn:
        entity = (
            await conn.execute(
                select(table.c.name, table.c.state_id).where(table.c.id == delivery.owner_id)
            )
        ).first()
        change = None
        if delivery.change_id is not None:
            change = (
                await conn.execute(
                    select(
                        state_history.c.state_id,
                        state_history.c.prev_state_id,
                        state_history.c.timestamp,
                    ).where(state_history.c.id == delivery.change_id)
                )
            ).first()
    if change is not None:
        return Facts(entity.name if entity else None, *change)
    # No change recorded (another cause, or pruned history): the state the entity is in.
    return Facts(entity.name if entity else None, entity.state_id if entity else None, None, None)
