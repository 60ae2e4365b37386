"""Message deliveries as the dispatcher leaves them: ``pending`` rows of
``trigger_deliveries``, made here directly, for the senders' tests."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import insert, select

from opsjobs.domain.clock import now_ms
from opsjobs.domain.ids import new_id
from opsjobs.store.core import Store
from opsjobs.store.schema import trigger_deliveries


async def pending_delivery(
    store: Store,
    kind: str,
    recipient: dict[str, Any] | str,
    *,
    owner_id: str,
    owner_type: int = 1,
    change_id: str | None = None,
    fired_at: int | None = None,
    **columns: Any,
) -> str:
    """One pending message, as the dispatcher makes it; answers its ID."""
    fired = now_ms() if fired_at is None else fired_at
    row = {
        "id": new_id(),
        "firing_id": new_id(),
        "owner_id": owner_id,
        "owner_type": owner_type,
        "cause": "state",
        "change_id": change_id,
        "type": kind,
        "recipient": recipient if isinstance(recipient, str) else orjson.dumps(recipient).decode(),
        "status": "pending",
        "due_at": fired,
        "fired_at": fired,
        "late": False,
        "attempts": 0,
        "lease_until": None,
        **columns,
    }
    async with store.write() as conn:
        await conn.execute(insert(trigger_deliveries).values(**row))
    return row["id"]


async def delivery(store: Store, delivery_id: str) -> dict[str, Any]:
    async with store.read() as conn:
        row = (
            await conn.execute(
                select(trigger_deliveries).where(trigger_deliveries.c.id == delivery_id)
            )
        ).first()
    assert row is not None, f"no delivery {delivery_id}"
    return dict(row._mapping)
