"""Moving running batches on: their targets' jobs queued ``concurrency`` at a time, each
exactly once, and the stop rule (docs/api.md, "Batches").

Each pass reads every running batch (through the partial index on running ones), sees
which of its jobs ended since the last pass, and queues jobs for as many waiting targets as
its concurrency frees. A job is a run of the batch's operation on the target, with
``user_id`` the owner and ``process_meta.batch`` naming the batch; the owner's rights are
checked again at each pass, as a schedule's are: an owner who may no longer run bulks or
execute operations (or who is gone, blocked or expired) stops the batch, with the reason.
A target the owner may no longer see, or whose operation can no longer be rendered for it,
is skipped with the reason. After ``stopAfterFailures`` jobs failed (domain/batches.py
FAILURES), no more are queued and the batch is ``stopped``; once every target has had its
job and every job ended, it is ``finished``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.batches import FAILURES, BatchStatus
from ..domain.clock import now_ms
from ..domain.errors import OpsjobsError
from ..domain.jobs import JobStatus
from ..domain.kinds import EntityKind
from ..domain.operations import runner_tag
from ..domain.spec import dump_spec
from ..store import batches as stored
from ..store.core import Store
from ..store.operations import execution_target
from .batches import PERMISSIONS
from .execute import job_row, rendered

_LIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


def owner_refusal(store: Store, owner_id: str, now: int) -> str | None:
    """Why the owner may no longer run its batch, or None if it may."""
    owner = store.directory.principals.get(owner_id)
    if owner is None:
        return f"the owner ({owner_id}) no longer exists"
    if not owner.may_log_in(now):
        return f"the owner ({owner.login}) is blocked or expired"
    for permission in PERMISSIONS:
        if not owner.rights.has_any(permission):
            return f"the owner ({owner.login}) no longer holds {permission}"
    return None


async def run_batches(
    store: Store, *, default_timeout: float, limit: int = 100, now: int | None = None
) -> tuple[list[stored.Step], bool]:
    """One pass over up to ``limit`` running batches: the steps done here (another process
    may have taken some of those read), and whether any batch was running."""
    found = await stored.running(store, limit)
    if not found:
        return [], False
    await store.catch_up()  # the owners' rights as they are now
    now = now_ms() if now is None else now
    steps = [await _step(store, row, now, default_timeout) for row in found]
    return await stored.consume(store, steps), True


def _stop(step: stored.Step, status: BatchStatus, now: int, reason: str | None = None) -> None:
    step.drop_waiting = status is not BatchStatus.FINISHED
    step.changes |= {"status": status.value, "updated": now, "finished_at": now}
    if reason is not None:
        step.changes["stopped_reason"] = reason


async def _step(store: Store, row: Any, now: int, default_timeout: float) -> stored.Step:
    step = stored.Step(row.id, row.revision)
    live = 0
    for seq, _job_id, status in await stored.active_targets(store, row.id):
        if status in _LIVE:
            live += 1
        else:  # ended (or purged: then its end is unknown, and counted as lost)
            step.ended[seq] = status or JobStatus.LOST.value
    failures = row.failures + sum(status in FAILURES for status in step.ended.values())
    if failures != row.failures:
        step.changes |= {"failures": failures, "updated": now}
    stop_after = row.stop_after_failures
    if stop_after is not None and failures >= stop_after:
        _stop(step, BatchStatus.STOPPED, now, f"{failures} jobs failed (stopAfterFailures)")
        return step
    refusal = owner_refusal(store, row.owner_id, now)
    if refusal is not None:
        _stop(step, BatchStatus.STOPPED, now, refusal)
        return step
    free = row.concurrency - live
    waiting = await stored.waiting_targets(store, row.id, free + 1) if free > 0 else [None]
    for target in waiting[:free]:
        await _queue(store, row, target, step, default_timeout)
    if live == 0 and len(waiting) <= free and not step.queued:
        _stop(step, BatchStatus.FINISHED, now)
    return step


async def _queue(
    store: Store, row: Any, target: Any, step: stored.Step, default_timeout: float
) -> None:
    """A job for the target into ``step``, or the reason it gets none."""
    kind = EntityKind(target.owner_type)
    owner = store.directory.principals[row.owner_id]
    if not store.directory.can_see_entity(owner, kind.word, target.entity_id):
        step.skipped[target.seq] = f"the owner ({owner.login}) may no longer see it"
        return
    try:
        found = await execution_target(store, kind.word, target.entity_id, row.operation_id)
        spec = rendered(found, target.entity_id, owner, orjson.loads(row.args), default_timeout)
    except OpsjobsError as exc:
        step.skipped[target.seq] = exc.message
        return
    step.queued[target.seq] = job_row(
        owner_id=target.entity_id,
        kind=kind,
        operation_id=row.operation_id,
        operation_name=found.operation["name"],
        user_id=owner.id,
        spec=dump_spec(spec, None),
        runner_tag=runner_tag(found.operation),
        process_meta=orjson.dumps({"batch": {"id": row.id, "name": row.name}}).decode(),
    )
