"""What an entity's triggers did (``trigger_deliveries``), as the API shows it: the job each
firing queued, or the message it sent or could not send (docs/api.md §18).

The rows are written by whoever acts on firings; this module only reads them.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select

from .core import Store
from .schema import trigger_deliveries

# Column -> document key, in the order the document shows them.
_FIELDS = (
    ("id", "id"),
    ("firing_id", "firingId"),
    ("cause", "cause"),
    ("change_id", "changeId"),
    ("type", "type"),
    ("recipient", "recipient"),
    ("status", "status"),
    ("job_id", "jobId"),
    ("detail", "detail"),
    ("due_at", "dueAt"),
    ("fired_at", "firedAt"),
    ("late", "late"),
    ("attempts", "attempts"),
    ("finished", "finished"),
    ("history", "history"),
)


def delivery_document(row: Any) -> dict[str, Any]:
    document = {key: getattr(row, column) for column, key in _FIELDS}
    document["late"] = bool(document["late"])
    # One JSON object per line, an attempt each (store/outbox.py).
    lines = (document["history"] or "").splitlines()
    document["history"] = [orjson.loads(line) for line in lines if line]
    return document


async def deliveries_of(store: Store, owner_id: str, limit: int, skip: int) -> list[dict[str, Any]]:
    """The entity's deliveries, newest first (by ``fired_at``, then ID), one page of them."""
    query = (
        select(*(trigger_deliveries.c[column] for column, _ in _FIELDS))
        .where(trigger_deliveries.c.owner_id == owner_id)
        .order_by(trigger_deliveries.c.fired_at.desc(), trigger_deliveries.c.id.desc())
        .limit(limit)
        .offset(skip)
    )
    async with store.read() as conn:
        return [delivery_document(row) for row in await conn.execute(query)]


async def has_deliveries(store: Store, owner_id: str, owner_type: int) -> bool:
    """Whether any delivery names the entity (a deleted one's stay readable to managers)."""
    async with store.read() as conn:
        result = await conn.execute(
            select(trigger_deliveries.c.id)
            .where(
                trigger_deliveries.c.owner_id == owner_id,
                trigger_deliveries.c.owner_type == owner_type,
            )
            .limit(1)
        )
        return result.first() is not None
