"""Running due schedules, each due time exactly once (docs/api.md, "Schedules").

A due schedule becomes a job of its operation on its target, with ``user_id`` its owner
and a ``process_meta`` that says which schedule and which due time. The owner's rights are
checked at each run: an owner who may no longer see the target or execute operations (or
who is gone, blocked or expired) gets no job, and the schedule is paused with the reason in
``stoppedReason``; so is one whose operation or target is gone or cannot be rendered.

A due time passed while no server ran (later than ``late_after_ms``) runs under the
``run-once`` policy, once and marked late, and not under ``skip``; either way the next run
is the first time after now.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.clock import now_ms
from ..domain.errors import OpsjobsError
from ..domain.kinds import EntityKind
from ..domain.operations import runner_tag
from ..domain.schedules import Timing, is_late, runs_now
from ..domain.spec import dump_spec
from ..store import schedules as stored
from ..store.core import Store
from ..store.operations import execution_target
from .execute import job_row, rendered
from .schedules import owner_refusal


async def run_due(
    store: Store,
    *,
    default_timeout: float,
    late_after_ms: int,
    limit: int = 200,
    now: int | None = None,
) -> list[stored.Run]:
    """Act on up to ``limit`` schedules due by ``now``; what was done here (another process
    may have taken some of those read)."""
    now = now_ms() if now is None else now
    found = await stored.due(store, now, limit)
    if not found:
        return []
    await store.catch_up()  # the owners' rights as they are now
    runs = [await _run(store, row, now, default_timeout, late_after_ms) for row in found]
    return await stored.consume(store, runs)


def _stop(row: Any, reason: str, now: int) -> stored.Run:
    changes = {"paused": True, "next_run_at": None, "stopped_reason": reason, "updated": now}
    return stored.Run(row.id, row.revision, None, changes)


async def _run(
    store: Store, row: Any, now: int, default_timeout: float, late_after_ms: int
) -> stored.Run:
    kind = EntityKind(row.target_type)
    refusal = owner_refusal(store, row.owner_id, kind.word, row.target_id, now)
    if refusal is not None:
        return _stop(row, refusal, now)
    timing = Timing(row.cron, row.timezone, row.interval_s)
    try:
        following = {"next_run_at": timing.following(now, previous=row.next_run_at)}
    except OpsjobsError as exc:
        return _stop(row, exc.message, now)
    late = is_late(row.next_run_at, now, late_after_ms)
    if not runs_now(row.missed, late):
        return stored.Run(row.id, row.revision, None, following)
    try:
        job = await _job(store, row, kind, now, late, default_timeout)
    except OpsjobsError as exc:
        return _stop(row, exc.message, now)
    changes = {**following, "last_run_at": now, "last_job_id": job["id"]}
    return stored.Run(row.id, row.revision, job, changes)


def process_meta(row: Any, now: int, late: bool) -> dict[str, Any]:
    """What a job started by a schedule says about it."""
    return {
        "schedule": {
            "id": row.id,
            "name": row.name,
            "dueAt": row.next_run_at,
            "firedAt": now,
            "late": late,
        }
    }


async def _job(
    store: Store, row: Any, kind: EntityKind, now: int, late: bool, default_timeout: float
) -> dict[str, Any]:
    target = await execution_target(store, kind.word, row.target_id, row.operation_id)
    owner = store.directory.principals[row.owner_id]
    spec = rendered(target, row.target_id, owner, orjson.loads(row.args), default_timeout)
    return job_row(
        owner_id=row.target_id,
        kind=kind,
        operation_id=row.operation_id,
        operation_name=target.operation["name"],
        user_id=owner.id,
        spec=dump_spec(spec, None),
        runner_tag=runner_tag(target.operation),
        process_meta=orjson.dumps(process_meta(row, now, late)).decode(),
    )
