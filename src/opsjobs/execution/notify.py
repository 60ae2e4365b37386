"""Sending the messages state triggers asked for: e-mail, SMS and voice calls (docs/api.md,
"Trigger actions: messages").

The dispatcher makes one ``pending`` delivery row per message, in the transaction that
consumes the firing; :func:`deliver_pending` sends them. A pass claims rows
(store/outbox.py) as it has free slots (``notify_concurrency``), sends them at once, records
how each ended, and ends when nothing is left to take. With nothing pending a pass is one
read of the open rows' index and no write.

Every claimed row ends recorded: delivered, failed, not-delivered, or back to pending for a
later attempt. A process that dies while sending leaves its rows ``sending`` under a lease
that outlasts any attempt; when it has run out, any process's next pass takes them again.
"""

from __future__ import annotations

import asyncio

import structlog

from ..config import Settings
from ..domain.clock import now_ms
from ..domain.errors import BadRequest
from ..domain.messages import FAILED, Attempt, recipients, retry_delay_ms
from ..store import outbox
from ..store.core import Store
from ..store.outbox import ClaimedDelivery
from ..store.retry import describe
from .notice import notice
from .phone import run_command
from .smtp import SMTP_STEPS, build_email, send_email

log = structlog.get_logger("opsjobs.execution")

# Beyond the longest an attempt may take: the time to record its end.
LEASE_MARGIN_SECONDS = 60.0
COMMAND_SETTINGS = {"sms": "sms_command", "voiceCall": "voice_command"}


def lease_ms(settings: Settings) -> int:
    """How long a claimed row is held: longer than any one attempt can take, so that a row
    is taken again only when its sender is gone."""
    longest = max(
        settings.smtp_timeout_seconds * SMTP_STEPS,
        settings.notify_command_timeout_seconds + settings.kill_grace_seconds + 2.0,
    )
    return int((longest + LEASE_MARGIN_SECONDS) * 1000)


async def attempt(store: Store, settings: Settings, delivery: ClaimedDelivery) -> Attempt:
    """One attempt at one message: its recipients checked again, its words made from the
    entity and the state change as they are read now, then sent."""
    try:
        to = recipients(delivery.type, delivery.recipient)
    except BadRequest as exc:
        return Attempt(FAILED, f"not a recipient: {exc}")
    facts = await outbox.message_facts(store, delivery)
    words = notice(settings, delivery, facts)
    if delivery.type == "e-mail":
        message = build_email(settings, delivery.id, to, words, now_ms())
        return await send_email(settings, message, to)
    setting = COMMAND_SETTINGS[delivery.type]
    return await run_command(
        getattr(settings, setting),
        setting,
        delivery_id=delivery.id,
        phone=to.phone,
        text=words.text,
        timeout=settings.notify_command_timeout_seconds,
        kill_grace=settings.kill_grace_seconds,
    )


async def record(
    store: Store, settings: Settings, delivery: ClaimedDelivery, result: Attempt, now: int
) -> str | None:
    """Store how the attempt ended; answers the row's status now (None: no longer ours)."""
    if not result.transient:
        done = await outbox.finish(
            store, delivery.id, result.status, result.detail, now, attempt=delivery.attempts
        )
        return result.status if done else None
    first_delay = int(settings.notify_retry_seconds * 1000)
    return await outbox.retry_later(
        store,
        delivery.id,
        now + retry_delay_ms(first_delay, delivery.attempts),
        result.detail,
        attempts_max=settings.notify_attempts_max,
        now=now,
        attempt=delivery.attempts,
    )


async def deliver(
    store: Store, settings: Settings, delivery: ClaimedDelivery, now: int | None
) -> None:
    try:
        result = await attempt(store, settings, delivery)
    except Exception as exc:  # a fault of ours or the database's: the row is recorded all the same
        # One line, never a traceback: a database error's rendering holds the statement's
        # parameters, and those a recipient.
        log.warning("sending a message failed", delivery_id=delivery.id, error=describe(exc))
        result = Attempt.again(f"{type(exc).__name__} while sending")
    status = await record(store, settings, delivery, result, now_ms() if now is None else now)
    log.info(
        "message attempted",
        delivery_id=delivery.id,
        type=delivery.type,
        attempt=delivery.attempts,
        status=status or "taken over",
    )


async def deliver_pending(store: Store, settings: Settings, *, now: int | None = None) -> int:
    """Send what is pending now; answers how many attempts were made. ``now``: the time
    the pass takes as now (ms; default the clock's), for claims and records alike.

    Up to ``notify_concurrency`` sends at once, a slot taken again as soon as it is free,
    so a slow SMTP server does not hold up the SMS behind it. The pass ends when a claim
    finds fewer rows than it asked for and what it took is done; rows that arrive later
    are the next pass's. Cancelled (the server stops), it stops its sends: their rows come
    back when their lease runs out."""
    made = 0
    running: set[asyncio.Task] = set()
    more = True
    try:
        while True:
            free = settings.notify_concurrency - len(running)
            if more and free > 0:
                at = now_ms() if now is None else now
                claimed = await outbox.claim_pending(store, at, lease_ms(settings), free)
                more = len(claimed) == free
                made += len(claimed)
                running |= {asyncio.create_task(deliver(store, settings, d, now)) for d in claimed}
            if not running:
                return made
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task.exception() is not None:
                    # Recording failed (the database is away): the lease brings the row back.
                    log.warning(
                        "recording a message's outcome failed", error=describe(task.exception())
                    )
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)


async def next_attempt_at(store: Store) -> int | None:
    """When a pass next has something to take (ms; 0: now), or None: nothing is open. The
    dispatcher sleeps no longer than this."""
    return await outbox.next_attempt_at(store)
