"""The job row is the queue: recording a job as ``queued`` is what submits it to runners.

A job moves queued → running → one finished status, each step one atomic statement guarded
by the status it expects, so two runners, a reaper and a cancel request can race without
ever both winning:
- ``claim``: queued → running (runner name, started, heartbeat), the oldest a runner may take
  (``claim_many``: up to one per free slot, in one statement);
- ``finish``: running → succeeded/failed/timeout/cancelled, with the last output, at once
  (``finish_many``: several jobs' ends in one group commit);
- ``reap_lost``: running with a stale heartbeat → lost;
- ``cancel``: queued → cancelled at once; running → marked, and the runner is told.

A cancel request for a running job is written into the row (``error`` = CANCEL_REQUESTED,
status still ``running``) so that the runner learns it at its next heartbeat even when it
lives in another process and the fast paths (in-process signal, PostgreSQL NOTIFY) miss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, or_, select, update

from ..domain.clock import now_ms
from ..domain.jobs import JobStatus
from . import queue_sqlite
from .core import Store
from .immediate import LATER, at_once
from .output import Chunk, insert_chunks
from .schema import jobs

# LISTEN/NOTIFY channels on PostgreSQL (see listen.py).
QUEUED_CHANNEL = "opsjobs_queued"
CANCEL_CHANNEL = "opsjobs_cancel"

CANCEL_REQUESTED = "cancel requested"
RUNNER_LOST = "runner lost"

_RUNNING = JobStatus.RUNNING.value
_QUEUED = JobStatus.QUEUED.value


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    owner_id: str
    owner_type: int
    operation_id: str | None
    spec: str | None


@dataclass(frozen=True)
class Heartbeat:
    cancel_requested: frozenset[str]
    # Ours no more (reaped as lost while we were slow): stop them, their result has no home.
    gone: frozenset[str]


async def _notify(conn, store: Store, channel: str, payload: str) -> None:
    # NOTIFY inside the transaction: PostgreSQL delivers it only if and when it commits.
    if not store.is_sqlite:
        await conn.execute(select(func.pg_notify(channel, payload)))


async def enqueue(store: Store, row: dict[str, Any]) -> None:
    """Insert a queued job (``status`` defaults to queued) and wake the runners."""
    work = lambda conn: queue_sqlite.insert_job(conn, row)  # noqa: E731
    if await at_once(store.immediate, work, sqlite3.IntegrityError, KeyError) is LATER:
        async with store.write() as conn:
            await conn.execute(insert(jobs).values(**row))
            await _notify(conn, store, QUEUED_CHANNEL, "")
    store.jobs_queued.set()


def _may_take(tags: Sequence[str]):
    untagged = or_(jobs.c.runner_tag.is_(None), jobs.c.runner_tag == "")
    return or_(untagged, jobs.c.runner_tag.in_(list(tags))) if tags else untagged


def _claimable(tags: Sequence[str], limit: int):
    return (
        select(jobs.c.id)
        .where(jobs.c.status == _QUEUED, _may_take(tags))
        .order_by(jobs.c.timestamp, jobs.c.id)
        .limit(limit)
    )


async def claim_many(
    store: Store, runner: str, tags: Sequence[str] = (), limit: int = 1
) -> list[ClaimedJob]:
    """Take up to ``limit`` of the oldest queued jobs this runner may run, in one statement.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so concurrent runners each
    take other rows without waiting; on SQLite the transaction holds the database's one write
    lock (BEGIN IMMEDIATE), which serialises claims outright.
    """
    now = now_ms()
    rows = await at_once(
        store.immediate, lambda conn: queue_sqlite.claim(conn, runner, tags, limit, now)
    )
    if rows is LATER:
        rows = await _claim_later(store, runner, tags, limit, now)
    rows.sort(key=lambda r: (r[5], r[0]))  # by timestamp, id: RETURNING promises no order
    for row in rows:
        store.job_signals.changed(row[0])
    return [ClaimedJob(*row[:5]) for row in rows]


async def _claim_later(
    store: Store, runner: str, tags: Sequence[str], limit: int, now: int
) -> list[tuple]:
    # A read looks first: an idle runner woken for nothing costs no write transaction.
    async with store.read() as conn:
        if (await conn.execute(_claimable(tags, 1))).first() is None:
            return []
    oldest = _claimable(tags, limit)
    if store.is_sqlite:
        chosen = jobs.c.id.in_(oldest.scalar_subquery())
    else:
        # A CTE, materialized: PostgreSQL may run an IN (subquery) more than once and so
        # lock and claim more rows than the limit.
        locked = oldest.with_for_update(skip_locked=True).cte("claimable")
        locked = locked.prefix_with("MATERIALIZED")
        chosen = jobs.c.id == locked.c.id
    statement = (
        update(jobs)
        .where(chosen, jobs.c.status == _QUEUED)
        .values(status=_RUNNING, runner=runner, started=now, heartbeat=now)
        .returning(
            jobs.c.id,
            jobs.c.owner_id,
            jobs.c.owner_type,
            jobs.c.operation_id,
            jobs.c.spec,
            jobs.c.timestamp,
        )
    )
    async with store.write() as conn:
        return [tuple(row) for row in await conn.execute(statement)]


async def claim(store: Store, runner: str, tags: Sequence[str] = ()) -> ClaimedJob | None:
    """Take the oldest queued job this runner may run, or None."""
    claimed = await claim_many(store, runner, tags, 1)
    return claimed[0] if claimed else None


async def beat(store: Store, runner: str, job_ids: Sequence[str]) -> Heartbeat:
    """Refresh the heartbeat of this runner's running jobs; tell which must stop."""
    if not job_ids:
        return Heartbeat(frozenset(), frozenset())
    statement = (
        update(jobs)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.status == _RUNNING, jobs.c.runner == runner)
        .values(heartbeat=now_ms())
        .returning(jobs.c.id, jobs.c.error)
    )
    async with store.write() as conn:
        rows = (await conn.execute(statement)).all()
    alive = {r.id for r in rows}
    return Heartbeat(
        frozenset(r.id for r in rows if r.error == CANCEL_REQUESTED),
        frozenset(set(job_ids) - alive),
    )


@dataclass(frozen=True)
class Ending:
    """How one job ended, as ``finish`` records it."""

    job_id: str
    status: JobStatus
    description_json: str
    error: str | None
    truncated: bool
    # The output not stored yet: it lands in the same transaction as the status, so a
    # reader who sees the job finished also sees all of its output.
    chunks: Sequence[Chunk] = ()


def _ending_params(ending: Ending, now: int) -> dict[str, Any]:
    return {
        "b_id": ending.job_id,
        "b_status": ending.status.value,
        "b_finished": now,
        "b_description": ending.description_json,
        "b_error": ending.error,
        "b_truncated": ending.truncated,
    }


def _finish_statement(runner: str):
    # Guarded by status and runner: a job reaped as lost meanwhile stays lost (final).
    return (
        update(jobs)
        .where(jobs.c.id == bindparam("b_id"), jobs.c.status == _RUNNING, jobs.c.runner == runner)
        .values(
            status=bindparam("b_status"),
            finished=bindparam("b_finished"),
            description=bindparam("b_description"),
            error=bindparam("b_error"),
            truncated=bindparam("b_truncated"),
        )
    )


def _size(endings: Sequence[Ending]) -> int:
    return sum(len(e.description_json) + sum(len(c.data) for c in e.chunks) for e in endings)


async def finish_many(store: Store, runner: str, endings: Sequence[Ending]) -> int:
    """Record several jobs' ends in one transaction (a group commit: on a busy runner the
    writer is shared by all slots). Each job still moves whole: its output with its status.
    Answers how many were recorded: a job no longer this runner's to finish is not."""
    if not endings:
        return 0
    now = now_ms()
    chunks = [(e.job_id, c) for e in endings for c in e.chunks]
    params = [_ending_params(e, now) for e in endings]

    def work(conn) -> int:
        queue_sqlite.insert_chunks(conn, chunks)
        return queue_sqlite.finish(conn, runner, params)

    finished = await at_once(store.immediate, work, size=_size(endings))
    if finished is LATER:
        async with store.write() as conn:
            await insert_chunks(conn, chunks)
            # One row's parameters alone: only a single execute reports its rowcount reliably.
            result = await conn.execute(
                _finish_statement(runner), params[0] if len(params) == 1 else params
            )
            finished = result.rowcount
    for ending in endings:
        store.job_signals.changed(ending.job_id)
    return finished


async def finish(store: Store, runner: str, ending: Ending) -> bool:
    """Record how one job ended; False when it was no longer this runner's to finish."""
    return await finish_many(store, runner, [ending]) == 1


async def reap_lost(
    store: Store, lost_after_seconds: float, spare: Sequence[str] = ()
) -> list[str]:
    """Turn running jobs whose heartbeat is older than the limit into ``lost``.

    ``spare``: jobs the caller is running itself. A runner whose process stalled (a busy
    machine) must not, on waking, reap its own live jobs before its heartbeat catches up.
    """
    now = now_ms()
    conditions = [
        jobs.c.status == _RUNNING,
        jobs.c.heartbeat < now - int(lost_after_seconds * 1000),
    ]
    if spare:
        conditions.append(jobs.c.id.not_in(list(spare)))
    statement = (
        update(jobs)
        .where(*conditions)
        .values(status=JobStatus.LOST.value, finished=now, error=RUNNER_LOST)
        .returning(jobs.c.id)
    )
    async with store.write() as conn:
        lost = [r.id for r in await conn.execute(statement)]
    for job_id in lost:
        store.job_signals.changed(job_id)
    return lost


async def cancel(store: Store, job_id: str) -> JobStatus | None:
    """Cancel a job: CANCELLED if it was queued (done), RUNNING if its runner was told to
    stop it, None if it had already finished (or does not exist)."""
    now = now_ms()
    async with store.write() as conn:
        queued = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == _QUEUED)
            .values(status=JobStatus.CANCELLED.value, finished=now, error="cancelled")
        )
        if queued.rowcount == 1:
            outcome = JobStatus.CANCELLED
        else:
            running = await conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.status == _RUNNING)
                .values(error=CANCEL_REQUESTED)
            )
            outcome = JobStatus.RUNNING if running.rowcount == 1 else None
            if outcome is JobStatus.RUNNING:
                await _notify(conn, store, CANCEL_CHANNEL, job_id)
    if outcome is JobStatus.RUNNING:
        store.job_signals.cancel_requested(job_id)
    store.job_signals.changed(job_id)
    return outcome


async def job_status(store: Store, job_id: str) -> JobStatus | None:
    async with store.read() as conn:
        status = (
            await conn.execute(select(jobs.c.status).where(jobs.c.id == job_id))
        ).scalar_one_or_none()
    return None if status is None else JobStatus(status)
