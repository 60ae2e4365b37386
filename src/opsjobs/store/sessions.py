"""Login sessions (cookie ``sid``), kept in the database so every process knows them."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import delete, insert, select, update

from ..domain.clock import now_ms
from .core import Store
from .schema import sessions

# Touching a session on every request would make every read a write; once a minute (or a
# tenth of the idle time, if shorter) is precise enough.
_TOUCH_EVERY_MS = 60_000


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def create_session(store: Store, user_id: str) -> str:
    session_id = secrets.token_hex(16)
    now = now_ms()
    async with store.write() as conn:
        await conn.execute(
            insert(sessions).values(
                id_hash=_hash(session_id), user_id=user_id, created=now, last_seen=now
            )
        )
    return session_id


async def session_user(store: Store, session_id: str, idle_ms: int) -> str | None:
    """The user of a live session, or None when it is unknown or idle too long."""
    key = _hash(session_id)
    now = now_ms()
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(sessions.c.user_id, sessions.c.last_seen).where(sessions.c.id_hash == key)
            )
        ).first()
    if row is None:
        return None
    if now - row.last_seen > idle_ms:
        await end_session(store, session_id)
        return None
    # Touched often enough that a session in use never looks idle, however short the idle
    # time is configured.
    if now - row.last_seen > min(_TOUCH_EVERY_MS, idle_ms // 10):
        async with store.write() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id_hash == key).values(last_seen=now)
            )
    return row.user_id


async def end_session(store: Store, session_id: str) -> None:
    async with store.write() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id_hash == _hash(session_id)))
