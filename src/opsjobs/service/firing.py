"""Acting on due trigger firings, each exactly once (docs/api.md §14, "Firing").

A firing (store/triggers.py made it, in the transaction of a state change or a ReadWrite
property change) becomes, when due:

- ``operation``: a job of that operation on the entity, with ``user_id`` null and a
  ``process_meta`` that says what started it;
- ``script``: a job that runs ``payload.execPath`` with ``payload.execArgs``, as a
  ``fileSystem`` operation would (argv, never a shell);
- ``e-mail``, ``sms``, ``voiceCall``: a delivery, pending, for the sender
  (execution/notify.py).

Each firing's result is recorded as a delivery row (a queued job names its job). A firing
that cannot run (its operation is gone, a template has no value) is recorded ``failed``
with the reason, and is consumed all the same: it would fail again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import orjson

from ..domain.clock import now_ms
from ..domain.errors import OpsjobsError
from ..domain.ids import new_id
from ..domain.kinds import EntityKind
from ..domain.operations import SCRIPT, render_spec, runner_tag
from ..domain.spec import dump_spec
from ..domain.templates import Values, property_map
from ..domain.triggers import JOB_TYPES
from ..store.core import Store
from ..store.firings import Acted, Firing, consume, due, entity_properties
from ..store.operations import execution_target
from .execute import job_row


async def fire_due(
    store: Store,
    *,
    default_timeout: float,
    late_after_ms: int,
    limit: int = 200,
    now: int | None = None,
) -> list[Acted]:
    """Act on up to ``limit`` firings due by ``now``; what was done here (another process
    may have taken some of those read)."""
    now = now_ms() if now is None else now
    found = await due(store, now, limit)
    acted = [await _act(store, f, now, default_timeout, late_after_ms) for f in found]
    return await consume(store, acted, now)


async def _act(
    store: Store, firing: Firing, now: int, default_timeout: float, late_after_ms: int
) -> Acted:
    trigger = orjson.loads(firing.trigger)
    late = now - firing.due_at > late_after_ms
    delivery = _delivery(firing, trigger, now, late)
    if trigger["type"] not in JOB_TYPES:
        recipient = json.dumps(trigger["payload"], sort_keys=True)
        return Acted(firing, None, {**delivery, "status": "pending", "recipient": recipient})
    meta = process_meta(firing, trigger, now, late)
    try:
        job = await _job(store, firing, trigger, meta, default_timeout)
    except OpsjobsError as exc:
        return Acted(firing, None, {**delivery, "status": "failed", "detail": exc.message})
    return Acted(firing, job, {**delivery, "status": "queued", "job_id": job["id"]})


def _delivery(firing: Firing, trigger: Mapping[str, Any], now: int, late: bool) -> dict:
    return {
        "id": new_id(),
        "firing_id": firing.id,
        "owner_id": firing.owner_id,
        "owner_type": firing.owner_type,
        "cause": firing.cause,
        "change_id": firing.change_id,
        "type": trigger["type"],
        "recipient": None,
        "status": "pending",
        "job_id": None,
        "detail": None,
        "due_at": firing.due_at,
        "fired_at": now,
        "late": late,
        "attempts": 0,
        "lease_until": None,
        "finished": now if trigger["type"] in JOB_TYPES else None,
    }


def process_meta(
    firing: Firing, trigger: Mapping[str, Any], now: int, late: bool
) -> dict[str, Any]:
    """What a job started by a firing says about it: SAYMON's ``triggerStates`` for a
    state trigger, and (opsjobs additions) which trigger, which change and when."""
    timing = {
        "id": firing.id,
        "dueAt": firing.due_at,
        "firedAt": now,
        "late": late,
        "repeat": firing.fired,
    }
    if firing.cause == "property":
        return {"property": orjson.loads(firing.context or "{}"), "firing": timing}
    return {
        "triggerStates": trigger["states"],
        "trigger": {
            "source": firing.source,
            "sourceId": firing.source_id,
            "index": firing.trigger_index,
            "type": trigger["type"],
        },
        "stateChange": {
            "id": firing.change_id,
            "from": firing.prev_state_id,
            "to": firing.state_id,
            "at": firing.entered_at,
        },
        "firing": timing,
    }


async def _job(
    store: Store,
    firing: Firing,
    trigger: Mapping[str, Any],
    meta: dict[str, Any],
    default_timeout: float,
) -> dict[str, Any]:
    kind = EntityKind(firing.owner_type)
    operation_id, operation, properties, script_text = await _what_runs(store, firing, trigger)
    values = property_map(properties)
    if firing.cause == "property":
        # The value this change set, even if the property changed again since.
        context = orjson.loads(firing.context or "{}")
        values = {**values, context["name"]: context["value"]}
    spec = render_spec(
        operation,
        Values(entity_id=firing.owner_id, properties=values),
        default_timeout=default_timeout,
        script_text=script_text,
    )
    return job_row(
        owner_id=firing.owner_id,
        kind=kind,
        operation_id=operation_id,
        operation_name=operation["name"],
        user_id=None,
        spec=dump_spec(spec, None),
        runner_tag=runner_tag(operation),
        process_meta=orjson.dumps(meta).decode(),
    )


async def _what_runs(store: Store, firing: Firing, trigger: Mapping[str, Any]):
    """(operation ID or None, the operation document, the entity's properties, the stored
    script text) for the job a firing starts."""
    kind = EntityKind(firing.owner_type)
    if trigger["type"] == "operation":
        operation_id = trigger["payload"]["operation"]
        target = await execution_target(store, kind.word, firing.owner_id, operation_id)
        return operation_id, target.operation, target.properties, target.script_text
    payload = trigger["payload"]
    operation = {
        "name": payload["execPath"],
        "type": SCRIPT,
        "parameters": {
            "type": "fileSystem",
            "path": payload["execPath"],
            "args": payload.get("execArgs", []),
        },
    }
    stored = await entity_properties(store, firing.owner_type, firing.owner_id)
    if stored is None:
        raise OpsjobsError(f"Entity not found: {kind.label}({firing.owner_id})")
    return None, operation, orjson.loads(stored), None
