"""The job row is the queue: recording a job as ``queued`` is what submits it to runners.

A job moves queued → running → one finished status, each step one atomic statement guarded
by the status it expects, so two runners, a reaper and a cancel request can race without
ever both winning:
- ``claim``: queued → running (runner name, started, heartbeat), the oldest a runner may take
  (``claim_many``: up to one per free slot, in one statement);
- ``finish``: running → succeeded/failed/timeout/cancelled, with the last output, at once
  (``finish_many``: several jobs' ends in one group commit); also lost → the real outcome,
  when the result of a job marked lost by mistake arrives after all (its ``history`` says so);
- ``mark_lost``: running, of a runner that stopped (see runners.py) → lost;
- ``cancel``: queued → cancelled at once; running → marked, and the runner is told.

No deadlocks by construction: a statement that locks several job rows on PostgreSQL takes
them in ID order (``in_id_order``), and a transaction that touches job rows and a runner's
row touches the jobs first. Claims lock with SKIP LOCKED, which never waits. What can still
be aborted is retried at once (retry.py).

A cancel request for a running job is written into the row (``error`` = CANCEL_REQUESTED,
status still ``running``) so that the runner learns it at its next heartbeat even when it
lives in another process and the fast paths (in-process signal, PostgreSQL NOTIFY) miss.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Text, bindparam, case, cast, func, insert, literal, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB

from ..domain.clock import now_ms
from ..domain.errors import NotFound
from ..domain.jobs import JobStatus
from ..domain.kinds import EntityKind
from ..domain.outcome import Outcome
from . import queue_pg, queue_sqlite, retry
from .channels import CANCEL_CHANNEL, QUEUED_CHANNEL, notify
from .core import Store
from .immediate import MAX_BYTES, NOT_WRITTEN, try_immediate_write
from .output import insert_chunks
from .schema import UNTAGGED, jobs, runners
from .states import StateChange, announce, change_state

CANCEL_REQUESTED = "cancel requested"
RUNNER_LOST = "runner lost"

_RUNNING = JobStatus.RUNNING.value
_QUEUED = JobStatus.QUEUED.value
_LOST = JobStatus.LOST.value
_JOB_COLUMNS = frozenset(jobs.c.keys())


def history_entry(at: int, event: str, by: str, detail: str) -> str:
    """One entry of a job's ``history`` (see models.HistoryEntry), as JSON text."""
    return orjson.dumps({"at": at, "event": event, "by": by, "detail": detail}).decode()


def appended_history(store: Store, entry):
    """``history`` with one more entry (JSON text), appended inside the UPDATE."""
    current = func.coalesce(jobs.c.history, literal("[]"))
    if store.is_sqlite:
        return func.json_insert(current, literal("$[#]"), func.json(entry))
    return cast(cast(current, JSONB).op("||")(func.jsonb_build_array(cast(entry, JSONB))), Text)


def in_id_order(store: Store, *conditions):
    """A WHERE clause for an UPDATE of the rows matching ``conditions``, which on PostgreSQL
    locks them first, one by one in ID order (a materialized CTE: run once, in that order).
    Two such statements can wait for each other's rows but never deadlock. SQLite has one
    writer at a time: there, it is the plain conditions."""
    if store.is_sqlite:
        return conditions
    locked = (
        select(jobs.c.id)
        .where(*conditions)
        .order_by(jobs.c.id)
        .with_for_update()
        .cte("locked")
        .prefix_with("MATERIALIZED")
    )
    return (jobs.c.id == locked.c.id,)


@dataclass(frozen=True)
class ClaimedJob:
    id: str
    owner_id: str
    owner_type: int
    operation_id: str | None
    spec: str | None
    # When the claim was written (ms, the ``heartbeat`` column), by which the runner's own
    # reaper judges a claim it does not run (lost_candidates); None where not known.
    claimed_at: int | None = None


@dataclass(frozen=True)
class Heartbeat:
    cancel_requested: frozenset[str]
    # Ours no more (reaped as lost while we were slow): stop them, their result has no home.
    gone: frozenset[str]


async def _immediate(store: Store, work, *retry_on: type[Exception], size: int = 0) -> Any:
    """``work`` through the immediate writer (immediate.py), or NOT_WRITTEN. Most often the
    lock it finds taken is this process's own async writer's, in the middle of a transaction:
    once that is over the write is done at once, which costs a fraction of the async path
    (and keeps the next writes from finding the lock taken by this one in turn)."""
    done = await try_immediate_write(store.immediate, work, *retry_on, size=size)
    if done is NOT_WRITTEN and store.immediate is not None and size <= MAX_BYTES:
        async with store.writer_turn():
            done = await try_immediate_write(store.immediate, work, *retry_on, size=size)
    return done


async def enqueue(store: Store, row: dict[str, Any]) -> None:
    """Insert a queued job (``status`` defaults to queued) and wake the runners."""
    work = lambda conn: queue_sqlite.insert_job(conn, row)  # noqa: E731
    if await _immediate(store, work, sqlite3.IntegrityError, KeyError) is NOT_WRITTEN:
        if store.is_sqlite or not set(row) <= _JOB_COLUMNS:
            async with store.write() as conn:
                await conn.execute(insert(jobs).values(**row))
                await notify(conn, QUEUED_CHANNEL)
        else:
            await queue_pg.enqueue(store, row, QUEUED_CHANNEL)
    store.jobs_queued.set()


def _may_take(tags: Sequence[str]):
    # The condition of ix_jobs_queue_untagged as its text: the database must see it is the
    # index's own to read the queue in claim order.
    untagged = text(UNTAGGED)
    return or_(untagged, jobs.c.runner_tag.in_(list(tags))) if tags else untagged


def _claimable(tags: Sequence[str], limit: int):
    return (
        select(jobs.c.id)
        .where(text(f"status = '{_QUEUED}'"), _may_take(tags))  # the indexes' own words
        .order_by(jobs.c.priority, jobs.c.timestamp, jobs.c.id)
        .limit(limit)
    )


async def claim_many(
    store: Store, runner: str, tags: Sequence[str] = (), limit: int = 1
) -> list[ClaimedJob]:
    """Take up to ``limit`` of the oldest queued jobs this runner may run, in one statement:
    a person's runs first (``priority`` 0), then those a trigger, a schedule or a batch
    started, each oldest first (docs/decisions.md, "Batches and fairness").

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED``, so concurrent runners each
    take other rows without waiting; on SQLite the transaction holds the database's one write
    lock (BEGIN IMMEDIATE), which serialises claims outright.
    """
    # The time a job starts is read as its claim is written, never before a wait for the
    # lock or the connection: a job queued during that wait would start before it was queued.
    claim = lambda conn: queue_sqlite.claim(conn, runner, tags, limit, now_ms())  # noqa: E731
    rows = await _immediate(store, claim)
    if rows is NOT_WRITTEN:
        if store.is_sqlite:
            rows = await _claim_through_pool(store, runner, tags, limit)
        else:
            rows = await queue_pg.claim(store, runner, tags, limit)
    return _claimed(store, rows)


def _claimed(store: Store, rows: list[tuple]) -> list[ClaimedJob]:
    """The jobs of claimed rows, oldest first, their followers woken."""
    rows.sort(key=lambda r: (r[5], r[0]))  # by timestamp, id: RETURNING promises no order
    for row in rows:
        store.job_signals.changed(row[0])
    return [ClaimedJob(*row[:5], claimed_at=row[6]) for row in rows]


async def _claim_through_pool(
    store: Store, runner: str, tags: Sequence[str], limit: int
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
        .values(
            status=_RUNNING,
            runner=runner,
            started=bindparam("started_at"),
            heartbeat=bindparam("started_at"),
        )
        .returning(
            jobs.c.id,
            jobs.c.owner_id,
            jobs.c.owner_type,
            jobs.c.operation_id,
            jobs.c.spec,
            jobs.c.timestamp,
            jobs.c.heartbeat,
        )
    )

    async def work(conn) -> list[tuple]:
        return [tuple(row) for row in await conn.execute(statement, {"started_at": now_ms()})]

    return await retry.write(store, work, "claim")


async def claim(store: Store, runner: str, tags: Sequence[str] = ()) -> ClaimedJob | None:
    """Take the oldest queued job this runner may run, or None."""
    claimed = await claim_many(store, runner, tags, 1)
    return claimed[0] if claimed else None


async def job_states(store: Store, runner: str, job_ids: Sequence[str]) -> Heartbeat:
    """Which of this runner's jobs must stop: a cancel was asked for, or they are no longer
    running for it (marked lost while it was silent). A read: job rows are never written to
    say a runner is alive (its own row is, see runners.py)."""
    if not job_ids:
        return Heartbeat(frozenset(), frozenset())
    query = select(jobs.c.id, jobs.c.status, jobs.c.runner, jobs.c.error).where(
        jobs.c.id.in_(list(job_ids))
    )
    async with store.read() as conn:
        rows = (await conn.execute(query)).all()
    ours = {r.id for r in rows if r.status == _RUNNING and r.runner == runner}
    return Heartbeat(
        frozenset(r.id for r in rows if r.id in ours and r.error == CANCEL_REQUESTED),
        frozenset(set(job_ids) - ours),
    )


def _late_detail(status: JobStatus) -> tuple[str, str]:
    if status is JobStatus.LOST:
        return "stopped", "its runner stopped it on learning it had been marked lost"
    return "finished", f"its runner recorded the outcome ({status.value}) after it was marked lost"


def _finish_params(job_id: str, outcome: Outcome, runner: str, now: int) -> dict[str, Any]:
    """The bind values of one job's finishing UPDATE (both statements take them)."""
    event, detail = _late_detail(outcome.status)
    return {
        "b_id": job_id,
        "b_status": outcome.status.value,
        "b_finished": now,
        "b_description": orjson.dumps(outcome.description).decode(),
        "b_error": outcome.error,
        "b_truncated": outcome.truncated,
        # Used only if the job was marked lost meanwhile (see _finish_statement).
        "b_entry": history_entry(now, event, runner, detail),
    }


def _finishable(runner: str):
    # Still this runner's: running, or marked lost by a reaper that judged it wrongly (its
    # result arrived after all). Any other status is final.
    # (Two comparisons, not IN: an expanding IN cannot be part of an executemany.)
    return (jobs.c.runner == runner, or_(jobs.c.status == _RUNNING, jobs.c.status == _LOST))


def _finish_statement(store: Store, runner: str):
    return (
        update(jobs)
        .where(jobs.c.id == bindparam("b_id"), *_finishable(runner))
        .values(
            status=bindparam("b_status"),
            finished=bindparam("b_finished"),
            description=bindparam("b_description"),
            error=bindparam("b_error"),
            truncated=bindparam("b_truncated"),
            history=case(
                (jobs.c.status == _LOST, appended_history(store, bindparam("b_entry"))),
                else_=jobs.c.history,
            ),
        )
    )


async def finish_many(store: Store, runner: str, outcomes: Mapping[str, Outcome]) -> int:
    """Record several jobs' ends (job ID -> how it ended) in one transaction (a group commit:
    on a busy runner the writer is shared by all slots). Each job still moves whole: its
    output with its status, and the state its end sets (``Outcome.sets_state``) with both.
    Answers how many were recorded: a job no longer this runner's to finish is not.

    Ends that set a state take the regular transaction (the state change writes through
    SQLAlchemy and starts firings); the others keep the cheap path, on-loop on SQLite."""
    if not outcomes:
        return 0
    setting = {j: o for j, o in outcomes.items() if o.sets_state is not None}
    plain = {j: o for j, o in outcomes.items() if o.sets_state is None}
    finished = await _finish_plain(store, runner, plain) if plain else 0
    if setting:
        finished += await _finish_setting_states(store, runner, setting)
    for job_id in sorted(outcomes):
        store.job_signals.changed(job_id)
    store.jobs_ended.set()
    return finished


async def finish_and_claim(
    store: Store, runner: str, outcomes: Mapping[str, Outcome], tags: Sequence[str], limit: int
) -> tuple[int, list[ClaimedJob]]:
    """``finish_many``, and on PostgreSQL up to ``limit`` claims like ``claim_many`` in the
    same statement as the plain ends (docs/decisions.md, "Finish and claim at once"): a
    runner passes the slots these ends free, and its next jobs start without a round trip
    of their own. The ends that set a state are written first, so the claims never make its
    running jobs outnumber its slots. SQLite, or no plain end: nothing is claimed here."""
    plain = {j: o for j, o in outcomes.items() if o.sets_state is None}
    if store.is_sqlite or not plain or limit <= 0:
        return await finish_many(store, runner, outcomes), []
    setting = {j: o for j, o in outcomes.items() if o.sets_state is not None}
    finished = await _finish_setting_states(store, runner, setting) if setting else 0
    _, chunks, params = _finish_rows(runner, plain)
    done, rows = await queue_pg.finish_and_claim(store, runner, params, chunks, (tags, limit))
    for job_id in sorted(outcomes):
        store.job_signals.changed(job_id)
    store.jobs_ended.set()
    return finished + done, _claimed(store, rows)


def _finish_rows(runner: str, outcomes: Mapping[str, Outcome]):
    now = now_ms()
    ids = sorted(outcomes)  # rows are locked in ID order
    chunks = [(job_id, c) for job_id in ids for c in outcomes[job_id].chunks]
    params = [_finish_params(job_id, outcomes[job_id], runner, now) for job_id in ids]
    return ids, chunks, params


async def _finish_locked(store: Store, conn, runner: str, ids, chunks, params) -> list[Any]:
    """The ends written in ``conn``'s transaction; the rows of the jobs finished."""
    await insert_chunks(conn, chunks)
    # Lock the rows first, in ID order: an UPDATE per row would lock them in statement
    # order, and against another transaction taking two of them the other way round
    # that is a deadlock.
    lock = (
        select(jobs.c.id, jobs.c.owner_id, jobs.c.owner_type)
        .where(jobs.c.id.in_(ids), *_finishable(runner))
        .order_by(jobs.c.id)
        .with_for_update()
    )
    mine = {row.id: row for row in await conn.execute(lock)}
    rows = [p for p in params if p["b_id"] in mine]
    if rows:
        await conn.execute(_finish_statement(store, runner), rows)
    return [mine[p["b_id"]] for p in rows]


async def _finish_plain(store: Store, runner: str, outcomes: Mapping[str, Outcome]) -> int:
    ids, chunks, params = _finish_rows(runner, outcomes)
    size = sum(len(p["b_description"]) for p in params) + sum(len(c.data) for _, c in chunks)

    def immediate_work(conn) -> int:
        queue_sqlite.insert_chunks(conn, chunks)
        return queue_sqlite.finish(conn, runner, params)

    async def work(conn) -> int:
        return len(await _finish_locked(store, conn, runner, ids, chunks, params))

    finished = await _immediate(store, immediate_work, size=size)
    if finished is NOT_WRITTEN:
        if store.is_sqlite:
            finished = await retry.write(store, work, "finish")
        else:
            finished = await queue_pg.finish(store, runner, params, chunks)
    return finished


async def _finish_setting_states(store: Store, runner: str, outcomes: Mapping[str, Outcome]) -> int:
    ids, chunks, params = _finish_rows(runner, outcomes)

    async def work(conn) -> tuple[int, list[StateChange | None]]:
        done = await _finish_locked(store, conn, runner, ids, chunks, params)
        # Entities in ID order (no deadlock between two runners' batches); for one entity,
        # the later job's end last.
        changes = []
        for row in sorted(done, key=lambda r: (r.owner_id, r.id)):
            state_id = outcomes[row.id].sets_state
            kind = EntityKind(row.owner_type)
            try:
                changes.append(
                    await change_state(conn, store, kind, row.owner_id, state_id, job_id=row.id)
                )
            except NotFound:
                pass  # the entity was deleted while its check ran: the end is still recorded
        return len(done), changes

    finished, changes = await retry.write(store, work, "finish")
    for change in changes:
        announce(store, change)
    return finished


async def finish(store: Store, runner: str, job_id: str, outcome: Outcome) -> bool:
    """Record how one job ended; False when it was no longer this runner's to finish."""
    return await finish_many(store, runner, {job_id: outcome}) == 1


@dataclass(frozen=True)
class LostCandidate:
    job_id: str
    runner: str | None
    # The runner's heartbeat when it was judged (None: not registered at all); the job is
    # marked lost only if the runner has not answered since.
    seen: int | None
    reason: str
    # The judge's own runner holds no run of it: no heartbeat of a runner guards the mark.
    unheld: bool = False


def claim_cutoff(lost_after_seconds: float, now: int) -> int:
    """The time (ms) before which a claim or a heartbeat is too old: its runner is judged
    silent, and a claim it answers that late is not started (runner.py). One rule for
    both, so that what one judges lost the other never runs."""
    return now - int(lost_after_seconds * 1000)


async def lost_candidates(
    store: Store,
    lost_after_seconds: float,
    own: str | None = None,
    held: Callable[[], Collection[str]] | None = None,
) -> list[LostCandidate]:
    """Running jobs whose runner stopped: its own heartbeat (runners.py) is older than the
    limit; or, for a runner that never registered (or whose row was pruned), the job's
    claim is older than the limit. ``own``: the caller's runner, alive by definition (a
    runner that stalled must not, on waking, judge its own jobs before it beats again);
    ``held()``: the jobs it runs (without it, none of ``own``'s jobs is judged). A job of
    ``own``'s claimed before the limit that it does not run is lost too: the claim committed but its answer never reached the runner (a
    connection cut after the commit), so nothing would ever run or end it."""
    now = now_ms()
    cutoff = claim_cutoff(lost_after_seconds, now)
    async with store.read() as conn:
        beats = dict((await conn.execute(select(runners.c.name, runners.c.heartbeat))).all())
        running = (
            await conn.execute(
                select(jobs.c.id, jobs.c.runner, jobs.c.heartbeat).where(jobs.c.status == _RUNNING)
            )
        ).all()
    found, unheld = [], []
    for job_id, runner, claimed in running:
        if runner is not None and runner == own:
            if held is not None and claimed is not None and claimed < cutoff:
                unheld.append(job_id)
            continue
        beat = beats.get(runner)
        if beat is not None and beat < cutoff:
            silent = (now - beat) / 1000
            reason = f"runner {runner} stopped answering ({silent:.1f} s without a heartbeat)"
            found.append(LostCandidate(job_id, runner, beat, reason))
        elif beat is None and (claimed is None or claimed < cutoff):
            reason = f"runner {runner} is not running (not registered)"
            found.append(LostCandidate(job_id, runner, None, reason))
    if held is not None and unheld:
        # Asked after the read: a claim answered meanwhile is among them. (One finished
        # meanwhile is not, but mark_lost only marks what is still running.)
        running_here = set(held())
        reason = f"its runner {own} never started it: the answer to its claim was lost"
        found += [
            LostCandidate(job_id, own, None, reason, unheld=True)
            for job_id in unheld
            if job_id not in running_here
        ]
    return sorted(found, key=lambda c: c.job_id)


async def mark_lost(store: Store, candidates: Sequence[LostCandidate], by: str) -> list[str]:
    """Turn the candidates into ``lost`` unless their runner answered since it was judged;
    each gets a history entry saying when, by whom and why. Answers the IDs marked."""
    if not candidates:
        return []
    now = now_ms()
    by_runner: dict[tuple[str | None, int | None, str, bool], list[str]] = {}
    for c in candidates:
        by_runner.setdefault((c.runner, c.seen, c.reason, c.unheld), []).append(c.job_id)

    async def work(conn) -> list[str]:
        # All of them locked first, in one statement and in ID order; the updates below,
        # one per runner (each with its own history entry), then wait for nothing.
        everyone = sorted(c.job_id for c in candidates)
        await conn.execute(
            select(jobs.c.id)
            .where(jobs.c.id.in_(everyone), jobs.c.status == _RUNNING)
            .order_by(jobs.c.id)
            .with_for_update()
        )
        lost: list[str] = []
        for (runner, seen, reason, unheld), ids in sorted(
            by_runner.items(), key=lambda kv: kv[1][0]
        ):
            owner = jobs.c.runner.is_(None) if runner is None else jobs.c.runner == runner
            guards = [jobs.c.id.in_(ids), jobs.c.status == _RUNNING, owner]
            if not unheld:  # an unheld job's runner answers, and says it runs none of it
                answered = select(runners.c.name).where(runners.c.name == runner)
                if seen is not None:
                    answered = answered.where(runners.c.heartbeat > seen)
                guards.append(~answered.exists())
            entry = history_entry(now, "lost", by, reason)
            statement = (
                update(jobs)
                .where(*guards)
                .values(
                    status=_LOST,
                    finished=now,
                    error=RUNNER_LOST,
                    history=appended_history(store, literal(entry)),
                )
                .returning(jobs.c.id)
            )
            lost += [row.id for row in await conn.execute(statement)]
        return lost

    lost = await retry.write(store, work, "mark lost")
    for job_id in lost:
        store.job_signals.changed(job_id)
    if lost:
        store.jobs_ended.set()
    return lost


@dataclass(frozen=True)
class JobPlace:
    """A job's status, and where its runner said it runs (None: no such runner row)."""

    status: str
    host: str | None
    pid: int | None
    registered: int | None


async def job_places(store: Store, job_ids: Sequence[str]) -> dict[str, JobPlace]:
    """Status and runner whereabouts of each of these jobs that exists."""
    if not job_ids:
        return {}
    query = (
        select(jobs.c.id, jobs.c.status, runners.c.host, runners.c.pid, runners.c.started)
        .select_from(jobs.outerjoin(runners, runners.c.name == jobs.c.runner))
        .where(jobs.c.id.in_(list(job_ids)))
    )
    async with store.read() as conn:
        return {row[0]: JobPlace(*row[1:]) for row in await conn.execute(query)}


async def cancel(store: Store, job_id: str) -> JobStatus | None:
    """Cancel a job: CANCELLED if it was queued (done), RUNNING if its runner was told to
    stop it, None if it had already finished (or does not exist)."""
    now = now_ms()

    async def work(conn) -> JobStatus | None:
        queued = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == _QUEUED)
            .values(status=JobStatus.CANCELLED.value, finished=now, error="cancelled")
        )
        if queued.rowcount == 1:
            return JobStatus.CANCELLED
        running = await conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status == _RUNNING)
            .values(error=CANCEL_REQUESTED)
        )
        if running.rowcount != 1:
            return None
        await notify(conn, CANCEL_CHANNEL, job_id)
        return JobStatus.RUNNING

    outcome = await retry.write(store, work, "cancel")
    if outcome is JobStatus.RUNNING:
        store.job_signals.cancel_requested(job_id)
    elif outcome is JobStatus.CANCELLED:
        store.jobs_ended.set()
    store.job_signals.changed(job_id)
    return outcome
