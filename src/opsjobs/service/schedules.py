"""Schedules as clients make, read and change them (docs/api.md, "Schedules").

A schedule runs as its owner, the user who made it: saving one checks that the owner may
see the target and execute its operations, as executing would, that the operation belongs to
the target or its class, and that the arguments fit the operation's declarations. Each run
checks the owner's rights again (service/schedule_runs.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.arguments import checked_args, declarations
from ..domain.clock import now_ms
from ..domain.errors import BadRequest
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from ..domain.schedules import (
    PER_OWNER_MAX,
    ScheduleFields,
    checked,
    merged,
    refuse_read_only,
)
from ..store import schedules as stored
from ..store.core import Store
from ..store.operations import execution_target

PERMISSION = "execute-operations"
MANAGER = "manage-operations"  # reads and changes everyone's schedules it can see the target of
LIST_MAX = 10_000


def owner_refusal(store: Store, owner_id: str, kind: str, entity_id: str, now: int) -> str | None:
    """Why the owner may not run an operation of this entity now, or None if it may."""
    owner = store.directory.principals.get(owner_id)
    if owner is None:
        return f"the owner ({owner_id}) no longer exists"
    if not owner.may_log_in(now):
        return f"the owner ({owner.login}) is blocked or expired"
    if not store.directory.can_see_entity(owner, kind, entity_id):
        return f"the owner ({owner.login}) may no longer see the {kind} {entity_id}"
    if not owner.rights.has_any(PERMISSION):
        return f"the owner ({owner.login}) no longer holds {PERMISSION}"
    return None


async def _checked_against_store(store: Store, fields: ScheduleFields, owner_id: str) -> None:
    """400 unless the owner may run it; 404 if the operation is not the target's."""
    refusal = owner_refusal(store, owner_id, fields.kind, fields.entity_id, now_ms())
    if refusal is not None:
        raise BadRequest(f"owner: {refusal}")
    target = await execution_target(store, fields.kind, fields.entity_id, fields.operation_id)
    declared = declarations(target.operation["parameters"].get("arguments"))
    checked_args(declared, fields.args)


def _values(fields: ScheduleFields, now: int) -> dict[str, Any]:
    timing = fields.timing
    return {
        "name": fields.name,
        "target_id": fields.entity_id,
        "target_type": EntityKind.of_word(fields.kind).value,
        "operation_id": fields.operation_id,
        "args": orjson.dumps(fields.args).decode(),
        "cron": timing.cron,
        "timezone": timing.timezone,
        "interval_s": timing.interval,
        "missed": fields.missed,
        "paused": fields.paused,
        "next_run_at": None if fields.paused else timing.following(now),
        "updated": now,
    }


async def create_schedule(
    store: Store, owner_id: str, body: Any, now: int | None = None
) -> dict[str, Any]:
    """Save a new schedule owned by ``owner_id``, timed from ``now``; its document."""
    refuse_read_only(body)
    fields = checked(body)
    await _checked_against_store(store, fields, owner_id)
    now = now_ms() if now is None else now
    row = {
        "id": new_id(),
        "owner_id": owner_id,
        "created": now,
        "revision": 0,
        "last_run_at": None,
        "last_job_id": None,
        "stopped_reason": None,
        **_values(fields, now),
    }
    await stored.create(store, row, PER_OWNER_MAX)
    return await read_document(store, row["id"])


async def change_schedule(
    store: Store, row: Any, change: Any, now: int | None = None
) -> dict[str, Any]:
    """Write a PATCH body over a stored schedule; its new document. A change of timing or
    a resume moves the next run to the first time from now."""
    fields = checked(merged(document(row), change))
    await _checked_against_store(store, fields, row.owner_id)
    values = _values(fields, now_ms() if now is None else now)
    if not fields.paused:
        values["stopped_reason"] = None
        if not row.paused and _same_timing(row, values):
            values["next_run_at"] = row.next_run_at  # a rename does not move the next run
    await stored.change(store, row.id, row.revision, values)
    return await read_document(store, row.id)


def _same_timing(row: Any, values: dict[str, Any]) -> bool:
    return all(getattr(row, name) == values[name] for name in ("cron", "timezone", "interval_s"))


async def set_paused(
    store: Store, row: Any, paused: bool, now: int | None = None
) -> dict[str, Any]:
    """Pause (always allowed, whatever the owner's rights now), or resume: checked again as
    a change is, and running from the first time after now."""
    if not paused:
        return await change_schedule(store, row, {"paused": False}, now)
    values = {"paused": True, "next_run_at": None, "updated": now_ms() if now is None else now}
    await stored.change(store, row.id, row.revision, values)
    return await read_document(store, row.id)


async def read_document(store: Store, schedule_id: str) -> dict[str, Any]:
    row = await stored.get(store, schedule_id)
    if row is None:
        raise BadRequest("schedule: gone meanwhile")
    return document(row)


def document(row: Any) -> dict[str, Any]:
    """A schedule as the API shows it."""
    return {
        "id": row.id,
        "name": row.name,
        "operation": row.operation_id,
        "target": {EntityKind(row.target_type).word: row.target_id},
        "args": orjson.loads(row.args),
        "cron": row.cron,
        "timezone": row.timezone if row.cron is not None else None,
        "interval": row.interval_s,
        "missed": row.missed,
        "paused": bool(row.paused),
        "owner": row.owner_id,
        "nextRunAt": row.next_run_at,
        "lastRunAt": row.last_run_at,
        "lastJobId": row.last_job_id,
        "stoppedReason": row.stopped_reason,
        "created": row.created,
        "updated": row.updated,
    }
