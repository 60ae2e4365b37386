"""Write transactions that a deadlock or a serialization failure may abort, retried at once.

Every statement that locks several job rows takes them in ID order (see queue.py), so the
queue's own writes cannot deadlock each other. What PostgreSQL may still abort (another
writer's order, a serializable transaction someone configured) is retried at once, a bounded
number of times, and counted: one log line per retry, never a traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from .core import Store

log = structlog.get_logger("opsjobs.store")

T = TypeVar("T")

ATTEMPTS = 5
# SQLSTATEs of a transaction that lost a race and may simply be run again.
RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


class Counts:
    """Retries made by this process (tests and operators read them)."""

    retried = 0
    gave_up = 0


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE anywhere in the exception's chain (SQLAlchemy wraps the driver's)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str):
            return code
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def describe(exc: BaseException) -> str:
    """One short line for a log: the driver's message, never SQLAlchemy's rendering of the
    statement and its parameters (which would copy a job's output into the log)."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:200]


async def write(store: Store, work: Callable[[AsyncConnection], Awaitable[T]], what: str) -> T:
    """``work(conn)`` in one write transaction, run again after a deadlock or serialization
    failure (up to ATTEMPTS in all); any other error is the caller's."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with store.write() as conn:
                return await work(conn)
        except Exception as exc:
            code = sqlstate(exc)
            if code not in RETRYABLE:
                raise
            if attempt == ATTEMPTS:
                Counts.gave_up += 1
                log.error("write aborted by the database; giving up", what=what, sqlstate=code,
                          attempts=attempt)  # fmt: skip
                raise
            Counts.retried += 1
            log.warning("write aborted by the database; retrying", what=what, sqlstate=code,
                        attempt=attempt, retried_in_process=Counts.retried)  # fmt: skip
            await asyncio.sleep(0)
    raise AssertionError("unreachable")
