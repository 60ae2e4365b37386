"""Login sessions (cookie ``sid``), kept in the database so every process knows them.

A session ends when it idles too long, on log-out, and with the changes to its user that
``domain.users.change_ends_sessions`` names (its rows are deleted in the changing
transaction, so no process can use them afterwards); deleting a user deletes its sessions.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import NamedTuple

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..domain.clock import now_ms
from ..domain.users import LoginState, may_log_in
from .core import Store
from .schema import sessions, users

# Touching a session on every request would make every read a write; once a minute (or a
# tenth of the idle time, if shorter) is precise enough.
_TOUCH_EVERY_MS = 60_000


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class NewSession(NamedTuple):
    id: str
    # The CSRF token (cookie ``csrf``): random, unrelated to the ID, stored only as a hash.
    csrf: str


class LiveSession(NamedTuple):
    user_id: str
    csrf_hash: str | None


def csrf_hash(token: str) -> str:
    return _hash(token)


async def locked_login_state(conn: AsyncConnection, user_id: str) -> LoginState | None:
    """What decides whether the user may log in (None: no such user), its row locked on
    PostgreSQL until the transaction ends: a change to the user waits for a session being
    opened, and ends it, or the opening waits for the change and sees it."""
    row = (
        await conn.execute(
            select(users.c.password_hash, users.c.status, users.c.active_to)
            .where(users.c.id == user_id)
            .with_for_update()
        )
    ).first()
    return None if row is None else LoginState(row.password_hash, row.status, row.active_to)


async def create_session(store: Store, user_id: str, password_hash: str) -> NewSession | None:
    """A new session for a user whose password (``password_hash``) was just checked; None when
    the password changed, or the user was blocked or deleted, since that check."""
    session_id = secrets.token_hex(16)
    csrf = secrets.token_urlsafe(32)
    now = now_ms()
    async with store.write() as conn:
        state = await locked_login_state(conn, user_id)
        if (
            state is None
            or state.password_hash != password_hash
            or not may_log_in(state.status, state.active_to, now)
        ):
            return None
        await conn.execute(
            insert(sessions).values(
                id_hash=_hash(session_id),
                user_id=user_id,
                created=now,
                last_seen=now,
                csrf_hash=_hash(csrf),
            )
        )
    return NewSession(session_id, csrf)


async def live_session(store: Store, session_id: str, idle_ms: int) -> LiveSession | None:
    """The user and CSRF token hash of a live session, or None when it is unknown or idle
    too long."""
    key = _hash(session_id)
    now = now_ms()
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(sessions.c.user_id, sessions.c.last_seen, sessions.c.csrf_hash).where(
                    sessions.c.id_hash == key
                )
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
    return LiveSession(row.user_id, row.csrf_hash)


async def end_session(store: Store, session_id: str) -> None:
    async with store.write() as conn:
        await conn.execute(delete(sessions).where(sessions.c.id_hash == _hash(session_id)))


async def end_user_sessions(conn: AsyncConnection, user_id: str) -> None:
    """Inside the transaction that changes the user."""
    await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
