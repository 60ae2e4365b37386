"""The queue's hot statements in plain PostgreSQL SQL, run on asyncpg directly.

Each is one statement, sent without a transaction of its own around it (PostgreSQL makes it
atomic): one round trip where the SQLAlchemy path of queue.py takes four to six (BEGIN, a
read first, the locks, the update, COMMIT), and no statement built and compiled per call.
The guards, the lock order and the history are those of queue.py; when output chunks go
with an end, they and the end share one transaction.

docs/decisions.md, "Execution throughput", has what this saved.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.exc import IntegrityError

from ..domain.clock import now_ms
from ..domain.output import Chunk
from . import retry
from .core import Store
from .schema import UNTAGGED

T = TypeVar("T")

_RETURNING = (
    "jobs.id, jobs.owner_id, jobs.owner_type, jobs.operation_id, jobs.spec, jobs.timestamp, "
    "jobs.heartbeat"
)

# The statements are put together from these parts, so that the claim and the end are
# written once whichever statement they go in ({names} are the statements' parameters).

# The queued jobs this runner may take, a person's first, then oldest first (queue.claim_many),
# locked SKIP LOCKED (materialized: PostgreSQL may otherwise run the subquery more than once
# and claim more than the limit). A runner without tags asks in the words of
# ix_jobs_queue_untagged's condition, and has no tags parameter: PostgreSQL then reads that
# index's first entries, whatever its statistics (docs/decisions.md, "The claim's plan").
_CLAIMABLE = """claimable AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE status = 'queued' AND {may_take}
    ORDER BY priority, timestamp, id LIMIT {limit}
    FOR UPDATE SKIP LOCKED
)"""


def _may_take(tags: str | None) -> str:
    """The claim's condition on the tag; ``tags``: the parameter of the runner's tags."""
    return UNTAGGED if tags is None else f"({UNTAGGED} OR runner_tag = ANY({tags}::text[]))"


_CLAIM_UPDATE = f"""UPDATE jobs SET status = 'running', runner = {{runner}}, started = {{started}},
    heartbeat = {{heartbeat}}
FROM claimable
WHERE jobs.id = claimable.id AND jobs.status = 'queued'
RETURNING {_RETURNING}"""

# Rows locked first, in ID order (no deadlock against a transaction taking two of them the
# other way round), then each job's end; a job marked lost meanwhile gets a history entry.
_ENDS = """locked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE id = ANY($1::text[]) AND runner = {runner} AND status IN ('running', 'lost')
    ORDER BY id
    FOR UPDATE
), ends AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::boolean[], $7::text[]
    ) AS e(id, status, finished, description, error, truncated, entry)
)"""
_FINISH_UPDATE = """UPDATE jobs SET
    status = ends.status,
    finished = ends.finished,
    description = ends.description,
    error = ends.error,
    truncated = ends.truncated,
    history = CASE WHEN jobs.status = 'lost'
        THEN (coalesce(jobs.history, '[]')::jsonb || jsonb_build_array(ends.entry::jsonb))::text
        ELSE jobs.history END
FROM locked, ends
WHERE jobs.id = locked.id AND ends.id = jobs.id
RETURNING jobs.id"""

# By whether the runner has tags: their parameter comes last, and only in the tagged one.
CLAIM = {
    tagged: f"WITH {_CLAIMABLE.format(may_take=_may_take(tags), limit='$4')}\n"
    + _CLAIM_UPDATE.format(runner="$1", started="$2", heartbeat="$3")
    for tagged, tags in ((False, None), (True, "$5"))
}

FINISH = f"WITH {_ENDS.format(runner='$8')}\n{_FINISH_UPDATE}"

# FINISH, then in the same statement CLAIM for the slots those ends free: a runner's slot goes
# from one job to the next in one round trip, and the jobs it runs never outnumber its slots
# (the ends and the claims commit together). The two updates touch different rows (running
# ones, queued ones); the claim's rows are locked SKIP LOCKED, so it never waits. Finished
# rows come back with kind 'f', claimed ones with 'c' and their columns.
FINISH_AND_CLAIM = {
    tagged: f"""WITH {_ENDS.format(runner="$8")},
finished AS ({_FINISH_UPDATE}),
{_CLAIMABLE.format(may_take=_may_take(tags), limit="$10")},
claimed AS ({_CLAIM_UPDATE.format(runner="$8", started="$9", heartbeat="$9")})
SELECT 'f' AS kind, finished.id, NULL::text, NULL::integer, NULL::text, NULL::text, NULL::bigint,
    NULL::bigint
FROM finished
UNION ALL
SELECT 'c', claimed.* FROM claimed
"""
    for tagged, tags in ((False, None), (True, "$11"))
}

INSERT_CHUNKS = (
    'INSERT INTO job_output (job_id, stream, seq, "offset", data) VALUES ($1, $2, $3, $4, $5) '
    "ON CONFLICT DO NOTHING"
)


async def enqueue(
    store: Store, row: dict[str, Any], channel: str, condition: tuple[str, Sequence] | None = None
) -> bool:
    """Insert a queued job and NOTIFY ``channel``, in one statement (the NOTIFY is sent when
    it commits); with ``condition`` (SQL whose marks are numbered after the row's, and their
    values), only if it holds. Answers whether the job was inserted. A unique violation is
    raised as SQLAlchemy's IntegrityError, as the SQLAlchemy path would."""
    sql = _insert_sql(tuple(row), channel, condition[0] if condition else None)
    values = [*row.values(), *(condition[1] if condition else ())]

    async def work(conn) -> bool:
        return len(await conn.fetch(sql, *values)) == 1

    try:
        return await _on_driver(store, work, "enqueue")
    except asyncpg.IntegrityConstraintViolationError as exc:
        raise IntegrityError(sql, None, exc) from exc


@functools.lru_cache(maxsize=64)
def _insert_sql(names: tuple[str, ...], channel: str, condition: str | None) -> str:
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join(f"${n}" for n in range(1, len(names) + 1))
    source = f"VALUES ({marks})" if condition is None else f"SELECT {marks} WHERE {condition}"
    return (
        f"WITH queued AS (INSERT INTO jobs ({columns}) {source} RETURNING id) "
        f"SELECT pg_notify('{channel}', '') FROM queued"
    )


async def _on_driver(store: Store, work: Callable[[Any], Awaitable[T]], what: str) -> T:
    """``work(asyncpg connection)`` on a pooled connection, run again after a deadlock or a
    serialization failure like retry.write."""
    for attempt in range(1, retry.ATTEMPTS + 1):
        try:
            return await store.db.on_asyncpg(work)
        except Exception as exc:
            if retry.sqlstate(exc) not in retry.RETRYABLE or attempt == retry.ATTEMPTS:
                raise
            retry.Counts.retried += 1
            await asyncio.sleep(0)
    raise AssertionError("unreachable")


_FINISH_COLUMNS = (
    "b_id",
    "b_status",
    "b_finished",
    "b_description",
    "b_error",
    "b_truncated",
    "b_entry",
)


async def claim(store: Store, runner: str, tags: Sequence[str], limit: int) -> list[tuple]:
    async def work(conn) -> list[tuple]:
        now = now_ms()  # once the connection is in hand (queue.claim_many)
        tagged = (list(tags),) if tags else ()
        rows = await conn.fetch(CLAIM[bool(tags)], runner, now, now, limit, *tagged)
        return [tuple(row) for row in rows]

    return await _on_driver(store, work, "claim")


async def finish(
    store: Store, runner: str, params: Sequence[dict[str, Any]], chunks: Sequence[tuple[str, Chunk]]
) -> int:
    """Rows finished, of the jobs in ``params`` (queue._finish_params), with their chunks."""
    arrays = [[p[name] for p in params] for name in _FINISH_COLUMNS]
    rows = [(job_id, c.stream, c.seq, c.offset, c.data) for job_id, c in chunks]

    async def work(conn) -> int:
        if not rows:
            return len(await conn.fetch(FINISH, *arrays, runner))
        async with conn.transaction():
            await conn.executemany(INSERT_CHUNKS, rows)
            return len(await conn.fetch(FINISH, *arrays, runner))

    return await _on_driver(store, work, "finish")


async def finish_and_claim(
    store: Store,
    runner: str,
    params: Sequence[dict[str, Any]],
    chunks: Sequence[tuple[str, Chunk]],
    claim: tuple[Sequence[str], int],
) -> tuple[int, list[tuple]]:
    """``finish``, and in the same statement up to ``limit`` claims, ``claim`` being (tags,
    limit) as ``claim`` takes them: rows finished, and the claimed rows."""
    tags, limit = claim
    arrays = [[p[name] for p in params] for name in _FINISH_COLUMNS]
    rows = [(job_id, c.stream, c.seq, c.offset, c.data) for job_id, c in chunks]

    async def work(conn) -> list:
        # The claims' start time once the connection is in hand (queue.claim_many).
        values = (*arrays, runner, now_ms(), limit, *((list(tags),) if tags else ()))
        sql = FINISH_AND_CLAIM[bool(tags)]
        if not rows:
            return await conn.fetch(sql, *values)
        async with conn.transaction():
            await conn.executemany(INSERT_CHUNKS, rows)
            return await conn.fetch(sql, *values)

    result = await _on_driver(store, work, "finish")
    claimed = [tuple(row)[1:] for row in result if row[0] == "c"]
    return len(result) - len(claimed), claimed
