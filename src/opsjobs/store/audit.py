"""The audit log (docs/security.md, "Audit log"): appended, read newest first, and deleted only
by retention, one batch at a time (``purge_audit``). Nothing here updates a row.

Rows come in batches (api/audit.py gathers them): one transaction for many rows. On SQLite a
batch goes through the immediate writer when the write lock is free (microseconds on the
loop, and in the same commit as the queue's writes of that turn), else through the async
writer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ..domain.audit import AuditEntry
from .core import Store
from .immediate import NOT_WRITTEN, try_immediate_write
from .schema import audit_log

COLUMNS = (
    "id",
    "at",
    "kind",
    "outcome",
    "status",
    "actor_id",
    "actor_login",
    "address",
    "target_type",
    "target_id",
    "detail",
    "request_id",
)
# A row already written is not written again: a batch retried after a commit whose answer
# was lost (a dropped connection, a cancelled wait) must not fail on its own first copy.
_INSERT_SQL = (
    f"INSERT OR IGNORE INTO audit_log ({', '.join(COLUMNS)}) "  # noqa: S608 - column names, no values
    f"VALUES ({', '.join('?' for _ in COLUMNS)})"
)


async def append(store: Store, entries: Sequence[AuditEntry]) -> None:
    """Write ``entries`` in one transaction."""
    if not entries:
        return
    rows = [entry.row() for entry in entries]
    values = [tuple(row[c] for c in COLUMNS) for row in rows]

    def work(conn: sqlite3.Connection) -> None:
        conn.executemany(_INSERT_SQL, values)

    size = sum(len(row["detail"] or "") for row in rows)
    if await try_immediate_write(store.immediate, work, size=size) is not NOT_WRITTEN:
        return
    async with store.write() as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        await conn.execute(dialect.insert(audit_log).on_conflict_do_nothing(), rows)


@dataclass(frozen=True)
class AuditQuery:
    """Which rows to read, newest first. ``kind`` ending in ``.`` is a prefix (``auth.``);
    ``actor`` is a user's ID or login."""

    start: int | None = None
    end: int | None = None
    kind: str | None = None
    actor: str | None = None
    limit: int = 100
    skip: int = 0


def _document(row: Any) -> dict[str, Any]:
    document = {name: getattr(row, name) for name in COLUMNS}
    detail = document["detail"]
    document["detail"] = orjson.loads(detail) if detail is not None else None
    return document


async def read_audit(store: Store, query: AuditQuery) -> list[dict[str, Any]]:
    """The rows ``query`` asks for, newest first, as documents (``detail`` decoded)."""
    c = audit_log.c
    statement = select(audit_log)
    if query.start is not None:
        statement = statement.where(c.at >= query.start)
    if query.end is not None:
        statement = statement.where(c.at <= query.end)
    if query.kind is not None:
        if query.kind.endswith("."):
            statement = statement.where(c.kind.startswith(query.kind, autoescape=True))
        else:
            statement = statement.where(c.kind == query.kind)
    if query.actor is not None:
        statement = statement.where(or_(c.actor_id == query.actor, c.actor_login == query.actor))
    statement = statement.order_by(c.at.desc(), c.id.desc()).limit(query.limit).offset(query.skip)
    async with store.read() as conn:
        rows = (await conn.execute(statement)).all()
    return [_document(row) for row in rows]


async def purge_audit(store: Store, older_than_ms: int, batch_size: int) -> int:
    """Delete at most ``batch_size`` rows older than ``older_than_ms`` (the oldest first);
    answer how many. The retention purger calls it until it answers fewer than the batch,
    so no transaction holds many rows' locks."""
    if batch_size <= 0:
        return 0
    c = audit_log.c
    oldest = select(c.id).where(c.at < older_than_ms).order_by(c.at, c.id).limit(batch_size)
    async with store.write() as conn:
        result = await conn.execute(delete(audit_log).where(c.id.in_(oldest)))
    return int(result.rowcount or 0)
