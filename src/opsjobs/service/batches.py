"""Batches as clients make, read and cancel them (docs/api.md, "Batches").

A batch runs one operation over a target set, as its owner, the user who made it. Making
one resolves the set at once, in the request: the entities it names that the owner may see
become its targets, in one transaction with the batch (at most ``TARGETS_MAX``); those the
owner may not see are left out without a trace, not even counted. A target the operation
does not belong to (its own, or its class's) is kept as ``skipped`` with the reason. The
arguments are checked once against the operation's declarations. The dispatcher then
queues the targets' jobs, ``concurrency`` at a time (service/batch_runs.py).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.arguments import checked_args, declarations
from ..domain.batches import (
    OPEN_PER_OWNER_MAX,
    TARGETS_MAX,
    BatchFields,
    BatchStatus,
    TargetStatus,
    checked,
)
from ..domain.clock import now_ms
from ..domain.errors import BadRequest, NotFound
from ..domain.ids import new_id
from ..domain.jobs import JobStatus
from ..domain.kinds import EntityKind
from ..domain.users import Principal
from ..store import batches as stored
from ..store.core import Store
from ..store.queue import cancel as cancel_job

PERMISSIONS = ("run-bulks", "execute-operations")  # both are needed
MANAGER = "manage-operations"  # reads and cancels others' batches
LIST_MAX = 1000
PAGE_MAX = 1000
TARGETS_PAGE_SKIP_MAX = TARGETS_MAX  # a page of jobs starts at most this far in
SKIPPED_SHOWN = 100  # skipped targets a document lists (all are counted)

NOT_FOUND = "not found"


def _not_applicable(kind: str) -> str:
    return f"the operation is not the {kind}'s own nor its class's"


async def _operation(store: Store, principal: Principal, operation_id: str) -> Any:
    """The operation's row; 404 if there is none or it belongs to an entity out of sight."""
    row = await stored.operation_owner(store, operation_id)
    if row is not None and row.owner_kind in ("object", "link"):
        if not store.directory.can_see_entity(principal, row.owner_kind, row.owner_id):
            row = None
    if row is None:
        raise NotFound.entity("Operation", operation_id)
    return row


async def _named(store: Store, principal: Principal, fields: BatchFields) -> list[tuple]:
    """(kind, ID, reason or None) of every entity the target set names that the caller may
    see, in order; a listed ID out of sight is answered as one that does not exist."""
    target, directory = fields.target, store.directory
    if target.kind == "subtree":
        seen = directory.subtree(
            target.value, lambda o: directory.can_see_object(principal, o), TARGETS_MAX + 1
        )
        if not seen:
            raise NotFound.entity(EntityKind.OBJECT.label, str(target.value))
        return [("object", i, None) for i in seen]
    if target.kind in ("objects", "links"):
        kind = target.kind[:-1]
        return [
            (kind, i, None if directory.can_see_entity(principal, kind, i) else NOT_FOUND)
            for i in target.value
        ]
    if target.kind == "class":
        if not await stored.class_exists(store, str(target.value)):
            raise NotFound.entity("Class", str(target.value))
        members = await stored.class_members(store, str(target.value))
    else:
        tag = await stored.tag_id(store, str(target.value))
        if tag is None:
            raise NotFound.entity("Tag", str(target.value))
        members = await stored.tag_carriers(store, tag)
    return [(k, i, None) for k, i in members if directory.can_see_entity(principal, k, i)]


async def _applicable(store: Store, operation: Any, named: list[tuple]) -> list[tuple]:
    """``named`` with a reason for each target the operation does not belong to: a class's
    operation belongs to the objects and links of that class, an object's or a link's to
    that one entity."""
    if operation.owner_kind == "class":
        classes: dict[str, str | None] = {}
        for kind in ("object", "link"):
            ids = [i for k, i, reason in named if k == kind and reason is None]
            classes |= await stored.class_ids(store, kind, ids) if ids else {}

        def belongs(kind: str, entity_id: str) -> bool:
            return classes.get(entity_id) == operation.owner_id
    else:

        def belongs(kind: str, entity_id: str) -> bool:
            return (kind, entity_id) == (operation.owner_kind, operation.owner_id)

    return [
        (k, i, reason or (None if belongs(k, i) else _not_applicable(k))) for k, i, reason in named
    ]


def _target_rows(batch_id: str, resolved: list[tuple]) -> list[dict[str, Any]]:
    return [
        {
            "batch_id": batch_id,
            "seq": seq,
            "entity_id": entity_id,
            "owner_type": EntityKind.of_word(kind).value,
            "status": TargetStatus.WAITING.value if reason is None else TargetStatus.SKIPPED.value,
            "job_id": None,
            "reason": reason,
        }
        for seq, (kind, entity_id, reason) in enumerate(resolved)
    ]


async def create_batch(
    store: Store, principal: Principal, body: Any, now: int | None = None
) -> dict[str, Any]:
    """Save a new batch of ``principal`` with its targets; its document. The caller's
    permissions are the route's to check first."""
    fields = checked(body)
    operation = await _operation(store, principal, fields.operation_id)
    parameters = orjson.loads(operation.parameters)
    checked_args(declarations(parameters.get("arguments")), fields.args)
    named = await _named(store, principal, fields)
    if len(named) > TARGETS_MAX:
        raise BadRequest(f"target: names more than {TARGETS_MAX} objects and links; narrow it")
    resolved = await _applicable(store, operation, named)
    now = now_ms() if now is None else now
    waiting = any(reason is None for _, _, reason in resolved)
    row = {
        "id": new_id(),
        "name": fields.name,
        "owner_id": principal.id,
        "operation_id": fields.operation_id,
        "target": orjson.dumps(fields.target.document()).decode(),
        "args": orjson.dumps(fields.args).decode(),
        "concurrency": fields.concurrency,
        "stop_after_failures": fields.stop_after_failures,
        "status": (BatchStatus.RUNNING if waiting else BatchStatus.FINISHED).value,
        "failures": 0,
        "stopped_reason": None,
        "revision": 0,
        "created": now,
        "updated": now,
        "finished_at": None if waiting else now,
    }
    await stored.create(store, row, _target_rows(row["id"], resolved), OPEN_PER_OWNER_MAX)
    return await read_document(store, row["id"])


async def cancel_batch(store: Store, batch_id: str, now: int | None = None) -> dict[str, Any]:
    """Cancel a running batch: no more jobs, and its queued and running ones cancelled as
    ``POST /jobs/:id/cancel`` cancels them. A batch already ended is left as it is."""
    active = await stored.cancel(store, batch_id, now_ms() if now is None else now)
    for job_id in active or ():
        await cancel_job(store, job_id)
    return await read_document(store, batch_id)


async def read_document(
    store: Store, batch_id: str, limit: int = PAGE_MAX, skip: int = 0
) -> dict[str, Any]:
    row = await stored.get(store, batch_id)
    if row is None:
        raise BadRequest("batch: gone meanwhile")
    return await document(store, row, limit, skip)


_JOB_STATUSES = tuple(s.value for s in JobStatus)


def _counts(found: dict[str, int]) -> dict[str, int]:
    counts = {status: found.get(status, 0) for status in _JOB_STATUSES}
    counts["queued"] += found.get(TargetStatus.ACTIVE.value, 0)  # a job not yet read
    for status in TargetStatus:
        if status is not TargetStatus.ACTIVE:
            counts[_COUNT_NAMES[status]] = found.get(status.value, 0)
    return counts


_COUNT_NAMES = {
    TargetStatus.WAITING: "waiting",
    TargetStatus.SKIPPED: "skipped",
    TargetStatus.NOT_QUEUED: "notQueued",
}


def summary(row: Any) -> dict[str, Any]:
    """A batch's own fields, as lists show it (without counts and jobs)."""
    return {
        "id": row.id,
        "name": row.name,
        "operation": row.operation_id,
        "target": orjson.loads(row.target),
        "args": orjson.loads(row.args),
        "concurrency": row.concurrency,
        "stopAfterFailures": row.stop_after_failures,
        "owner": row.owner_id,
        "status": row.status,
        "stoppedReason": row.stopped_reason,
        "created": row.created,
        "updated": row.updated,
        "finishedAt": row.finished_at,
    }


async def listed_document(store: Store, row: Any) -> dict[str, Any]:
    """A batch in a list: its fields and counts, without jobs."""
    return {**summary(row), "counts": _counts(await stored.counts(store, row.id))}


async def document(store: Store, row: Any, limit: int = PAGE_MAX, skip: int = 0) -> dict[str, Any]:
    """A batch as the API shows it: its fields, counts, a page of its jobs and the first
    skipped targets with their reasons."""
    found = await stored.contents(store, row.id, limit, skip, SKIPPED_SHOWN)
    jobs, skipped = found.jobs, found.skipped
    return {
        **summary(row),
        "counts": _counts(found.counts),
        "jobs": [
            {
                "id": j.job_id,
                "entity": {EntityKind(j.owner_type).word: j.entity_id},
                "status": JobStatus.QUEUED.value
                if j.status == TargetStatus.ACTIVE.value
                else j.status,
            }
            for j in jobs
        ],
        "skipped": [
            {"entity": {EntityKind(s.owner_type).word: s.entity_id}, "reason": s.reason}
            for s in skipped
        ],
    }
