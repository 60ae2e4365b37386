"""Batches as stored: the batch, its targets, and the steps that queue their jobs exactly once.

A running batch is moved on in two steps, as a due schedule is (store/schedules.py): the
batch and its targets are read without a lock and turned into a :class:`Step` (which jobs
ended, which targets get a job now, rendered outside any transaction); then :func:`consume`
takes, in one transaction, the batches still as they were read (same ``revision``), locked
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer at a time), inserts the jobs
and records the step. A dispatcher that read the same batch finds it locked or changed and
leaves it; so does one that read it before a cancel (which bumps the revision too): each
target gets at most one job, whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, select, tuple_, update

from ..domain.batches import BatchStatus, TargetStatus
from ..domain.errors import BadRequest
from .channels import FIRINGS_CHANNEL, QUEUED_CHANNEL, notify
from .core import Store
from .schema import batch_targets, batches, classes, jobs, links, objects, operations, tags

_RUNNING = BatchStatus.RUNNING.value
_WAITING = TargetStatus.WAITING.value
_ACTIVE = TargetStatus.ACTIVE.value
_CHUNK = 500  # IDs in one IN list (SQLite allows 32766 bound values; PostgreSQL more)
_TABLES = {"object": objects, "link": links}


# -- what a target set names -------------------------------------------------------------------


async def operation_owner(store: Store, operation_id: str) -> Any | None:
    """The operation's owner (``owner_kind``, ``owner_id``), name and parameters, or None."""
    query = select(
        operations.c.id,
        operations.c.owner_kind,
        operations.c.owner_id,
        operations.c.name,
        operations.c.parameters,
    ).where(operations.c.id == operation_id)
    async with store.read() as conn:
        return (await conn.execute(query)).first()


async def class_ids(store: Store, kind: str, entity_ids: Sequence[str]) -> dict[str, str | None]:
    """The class of each of these objects (``kind`` "object") or links that exists."""
    table = _TABLES[kind]
    found: dict[str, str | None] = {}
    async with store.read() as conn:
        for start in range(0, len(entity_ids), _CHUNK):
            chunk = list(entity_ids[start : start + _CHUNK])
            query = select(table.c.id, table.c.class_id).where(table.c.id.in_(chunk))
            found.update((row.id, row.class_id) for row in await conn.execute(query))
    return found


async def class_exists(store: Store, class_id: str) -> bool:
    async with store.read() as conn:
        found = await conn.execute(select(classes.c.id).where(classes.c.id == class_id))
        return found.first() is not None


async def class_members(store: Store, class_id: str) -> list[tuple[str, str]]:
    """(kind, ID) of the objects and then the links of the class, by ID."""
    found: list[tuple[str, str]] = []
    async with store.read() as conn:
        for kind, table in _TABLES.items():
            query = select(table.c.id).where(table.c.class_id == class_id).order_by(table.c.id)
            found += [(kind, row.id) for row in await conn.execute(query)]
    return found


async def tag_id(store: Store, name: str) -> str | None:
    async with store.read() as conn:
        return (await conn.execute(select(tags.c.id).where(tags.c.name == name))).scalar()


async def tag_carriers(store: Store, tag: str) -> list[tuple[str, str]]:
    """(kind, ID) of the objects and then the links carrying the tag, by ID."""
    found: list[tuple[str, str]] = []
    async with store.read() as conn:
        for kind, table in _TABLES.items():
            # Tag IDs are hex: the quoted ID matches exactly that element of the JSON list.
            query = select(table.c.id).where(table.c.tags.contains(f'"{tag}"')).order_by(table.c.id)
            found += [(kind, row.id) for row in await conn.execute(query)]
    return found


# -- made, read, listed ------------------------------------------------------------------------


async def create(
    store: Store, row: dict[str, Any], targets: Sequence[dict[str, Any]], open_max: int
) -> None:
    """Insert the batch and its targets in one transaction; 400 when its owner already has
    ``open_max`` running batches. Wakes the dispatchers (NOTIFY on PostgreSQL)."""
    async with store.write() as conn:
        running = await conn.execute(
            select(func.count())
            .select_from(batches)
            .where(batches.c.owner_id == row["owner_id"], batches.c.status == _RUNNING)
        )
        if row["status"] == _RUNNING and running.scalar_one() >= open_max:
            raise BadRequest(f"owner: a user may have at most {open_max} running batches")
        await conn.execute(insert(batches).values(row))
        for start in range(0, len(targets), _CHUNK):
            await conn.execute(insert(batch_targets), list(targets[start : start + _CHUNK]))
        await notify(conn, FIRINGS_CHANNEL)
    store.firings_due.set()


async def get(store: Store, batch_id: str) -> Any | None:
    async with store.read() as conn:
        return (await conn.execute(select(batches).where(batches.c.id == batch_id))).first()


async def listed(store: Store, owner_id: str | None, limit: int) -> list[Any]:
    """Batches, newest first: one owner's (``owner_id``), or everyone's (None)."""
    query = select(batches).order_by(batches.c.created.desc(), batches.c.id.desc()).limit(limit)
    if owner_id is not None:
        query = query.where(batches.c.owner_id == owner_id)
    async with store.read() as conn:
        return list(await conn.execute(query))


def _job_status():
    # A target's job as it is now; the status copied into the target when the job ended,
    # once the job itself is purged.
    return func.coalesce(jobs.c.status, batch_targets.c.status)


def _with_jobs():
    return batch_targets.outerjoin(jobs, jobs.c.id == batch_targets.c.job_id)


def _counts_query(batch_id: str):
    status = _job_status().label("status")
    return (
        select(status, func.count())
        .select_from(_with_jobs())
        .where(batch_targets.c.batch_id == batch_id)
        .group_by(status)
    )


async def counts(store: Store, batch_id: str) -> dict[str, int]:
    """How many targets are in each status (a job's, or waiting, skipped, not-queued)."""
    async with store.read() as conn:
        return {row[0]: row[1] for row in await conn.execute(_counts_query(batch_id))}


@dataclass(frozen=True, slots=True)
class Contents:
    counts: dict[str, int]
    jobs: list[Any]  # (job_id, entity_id, owner_type, status)
    skipped: list[Any]  # (entity_id, owner_type, reason)


async def contents(store: Store, batch_id: str, limit: int, skip: int, shown: int) -> Contents:
    """The counts, a page of the jobs in the order they were queued, and the first
    ``shown`` skipped targets, read in one transaction (one snapshot on SQLite)."""
    jobs_query = (
        select(batch_targets.c.job_id, batch_targets.c.entity_id, batch_targets.c.owner_type)
        .add_columns(_job_status().label("status"))
        .select_from(_with_jobs())
        .where(batch_targets.c.batch_id == batch_id, batch_targets.c.job_id.is_not(None))
        .order_by(batch_targets.c.seq)
        .limit(limit)
        .offset(skip)
    )
    skipped_query = (
        select(batch_targets.c.entity_id, batch_targets.c.owner_type, batch_targets.c.reason)
        .where(
            batch_targets.c.batch_id == batch_id,
            batch_targets.c.status == TargetStatus.SKIPPED.value,
        )
        .order_by(batch_targets.c.seq)
        .limit(shown)
    )
    async with store.read() as conn:
        found = {row[0]: row[1] for row in await conn.execute(_counts_query(batch_id))}
        jobs_page = list(await conn.execute(jobs_query))
        skipped = list(await conn.execute(skipped_query))
    return Contents(found, jobs_page, skipped)


async def targets(store: Store, batch_id: str) -> list[tuple[str, int]]:
    """(entity_id, owner_type) of every target of the batch, skipped ones too."""
    query = select(batch_targets.c.entity_id, batch_targets.c.owner_type).where(
        batch_targets.c.batch_id == batch_id
    )
    async with store.read() as conn:
        return [tuple(row) for row in await conn.execute(query)]


async def open_totals(store: Store) -> tuple[int, int]:
    """Running batches, and their targets still waiting for a job (for metrics)."""
    running = select(batches.c.id).where(batches.c.status == _RUNNING)
    async with store.read() as conn:
        count = (
            await conn.execute(select(func.count()).select_from(running.subquery()))
        ).scalar_one()
        waiting = await conn.execute(
            select(func.count())
            .select_from(batch_targets)
            .where(batch_targets.c.batch_id.in_(running), batch_targets.c.status == _WAITING)
        )
        return int(count), int(waiting.scalar_one())


# -- moving running batches on -----------------------------------------------------------------


async def running(store: Store, limit: int) -> list[Any]:
    """The oldest running batches, through the partial index on ``created``."""
    query = (
        select(batches)
        .where(batches.c.status == _RUNNING)
        .order_by(batches.c.created, batches.c.id)
        .limit(limit)
    )
    async with store.read() as conn:
        return list(await conn.execute(query))


async def active_targets(store: Store, batch_id: str) -> list[Any]:
    """The targets whose job was queued and not yet seen to end: (seq, job_id, status of the
    job now, None if it is gone)."""
    query = (
        select(batch_targets.c.seq, batch_targets.c.job_id, jobs.c.status)
        .select_from(_with_jobs())
        .where(batch_targets.c.batch_id == batch_id, batch_targets.c.status == _ACTIVE)
    )
    async with store.read() as conn:
        return list(await conn.execute(query))


async def waiting_targets(store: Store, batch_id: str, most: int) -> list[Any]:
    """The next ``most`` waiting targets, in their order: (seq, entity_id, owner_type)."""
    query = (
        select(batch_targets.c.seq, batch_targets.c.entity_id, batch_targets.c.owner_type)
        .where(batch_targets.c.batch_id == batch_id, batch_targets.c.status == _WAITING)
        .order_by(batch_targets.c.seq)
        .limit(most)
    )
    async with store.read() as conn:
        return list(await conn.execute(query))


@dataclass(slots=True)
class Step:
    """What one pass does to a running batch read at ``revision``: the targets whose jobs
    ended (seq → final status), the jobs to queue now (seq → job row), the targets skipped
    (seq → reason), whether the waiting ones are dropped, and the batch's new values."""

    id: str
    revision: int
    ended: dict[int, str] = field(default_factory=dict)
    queued: dict[int, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    drop_waiting: bool = False
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def idle(self) -> bool:
        return not (self.ended or self.queued or self.skipped or self.drop_waiting or self.changes)


async def _still_as_read(conn, store: Store, steps: Sequence[Step]) -> set[str]:
    keys = [(step.id, step.revision) for step in steps]
    query = select(batches.c.id).where(tuple_(batches.c.id, batches.c.revision).in_(keys))
    if not store.is_sqlite:
        query = query.with_for_update(skip_locked=True)
    return {row.id for row in await conn.execute(query)}


def _where_target():
    return (
        batch_targets.c.batch_id == bindparam("b_batch"),
        batch_targets.c.seq == bindparam("b_seq"),
    )


# A target's job ended: its final status is copied (the job ID stays).
_ENDED = update(batch_targets).where(*_where_target()).values(status=bindparam("b_status"))
# A target got its job, or was skipped with a reason.
_MOVED = (
    update(batch_targets)
    .where(*_where_target())
    .values(status=bindparam("b_status"), job_id=bindparam("b_job"), reason=bindparam("b_reason"))
)


def _moved_rows(step: Step) -> list[dict[str, Any]]:
    def row(seq: int, status: str, job: str | None, reason: str | None) -> dict[str, Any]:
        return {
            "b_batch": step.id,
            "b_seq": seq,
            "b_status": status,
            "b_job": job,
            "b_reason": reason,
        }

    return [row(seq, _ACTIVE, job["id"], None) for seq, job in step.queued.items()] + [
        row(seq, TargetStatus.SKIPPED.value, None, reason) for seq, reason in step.skipped.items()
    ]


async def _record(conn, step: Step) -> None:
    if step.ended:
        ended = [{"b_batch": step.id, "b_seq": s, "b_status": v} for s, v in step.ended.items()]
        await conn.execute(_ENDED, ended)
    moved = _moved_rows(step)
    if moved:
        await conn.execute(_MOVED, moved)
    if step.drop_waiting:
        await conn.execute(
            update(batch_targets)
            .where(batch_targets.c.batch_id == step.id, batch_targets.c.status == _WAITING)
            .values(status=TargetStatus.NOT_QUEUED.value)
        )
    await conn.execute(
        update(batches)
        .where(and_(batches.c.id == step.id, batches.c.revision == step.revision))
        .values(**step.changes, revision=step.revision + 1)
    )


async def consume(store: Store, steps: Sequence[Step]) -> list[Step]:
    """Do what ``steps`` say for each batch still as read, in one transaction; the ones done
    (the others were taken, moved on or cancelled meanwhile)."""
    steps = [step for step in steps if not step.idle]
    if not steps:
        return []
    async with store.write() as conn:
        mine = await _still_as_read(conn, store, steps)
        done = [step for step in steps if step.id in mine]
        job_rows = [job for step in done for job in step.queued.values()]
        if job_rows:
            await conn.execute(insert(jobs), job_rows)
            await notify(conn, QUEUED_CHANNEL)
        for step in done:
            await _record(conn, step)
    if job_rows:
        store.jobs_queued.set()
    return done


async def cancel(store: Store, batch_id: str, now: int) -> list[str] | None:
    """Mark a running batch cancelled and its waiting targets not-queued, in one
    transaction that waits for a dispatcher's step on it; the IDs of its jobs still queued
    or running, for the caller to cancel. None when the batch was not running."""
    async with store.write() as conn:
        row = (
            await conn.execute(
                select(batches.c.revision, batches.c.status)
                .where(batches.c.id == batch_id)
                .with_for_update()
            )
        ).first()
        if row is None or row.status != _RUNNING:
            return None
        step = Step(batch_id, row.revision, drop_waiting=True)
        step.changes = {"status": BatchStatus.CANCELLED.value, "updated": now, "finished_at": now}
        await _record(conn, step)
        active = await conn.execute(
            select(batch_targets.c.job_id).where(
                batch_targets.c.batch_id == batch_id, batch_targets.c.status == _ACTIVE
            )
        )
        return [r.job_id for r in active]


# -- retention ---------------------------------------------------------------------------------


def _ended_before(older_than_ms: int):
    """The batches that ended before ``older_than_ms``, through an alias: the purge's
    subqueries read the table its DELETE writes."""
    ended = batches.alias("ended")
    old = select(ended.c.id).where(ended.c.status != _RUNNING, ended.c.finished_at < older_than_ms)
    return ended, old


async def count_ended(store: Store, older_than_ms: int) -> int:
    """The rows purge_ended would delete: the batches and their targets."""
    _, old = _ended_before(older_than_ms)
    targets = select(func.count()).where(batch_targets.c.batch_id.in_(old)).scalar_subquery()
    ended = select(func.count()).select_from(old.subquery()).scalar_subquery()
    async with store.read() as conn:
        return int((await conn.execute(select(targets + ended))).scalar_one())


async def purge_ended(store: Store, older_than_ms: int, batch_size: int) -> int:
    """Delete batches that ended before ``older_than_ms`` (finished, stopped or cancelled;
    a running one never), with their targets; the rows deleted. At most ``batch_size``
    target rows go in one transaction, then as many batches left without a target: the
    retention purger calls it until it answers fewer, so a batch over many targets goes
    in several transactions (its document shows the targets it has left meanwhile). An
    ended batch never runs again: nothing else writes it any more."""
    if batch_size <= 0:
        return 0
    ended, old = _ended_before(older_than_ms)
    t = batch_targets.c
    some = (
        select(t.batch_id, t.seq)
        .where(t.batch_id.in_(old))
        .order_by(t.batch_id, t.seq)
        .limit(batch_size)
    )
    async with store.write() as conn:
        result = await conn.execute(
            delete(batch_targets).where(tuple_(t.batch_id, t.seq).in_(some))
        )
        deleted = int(result.rowcount or 0)
        if deleted >= batch_size:
            return deleted
        bare = old.where(~select(t.seq).where(t.batch_id == ended.c.id).exists())
        result = await conn.execute(
            delete(batches).where(batches.c.id.in_(bare.limit(batch_size - deleted)))
        )
    return deleted + int(result.rowcount or 0)
