"""The queue's hot statements in plain SQLite SQL, for the immediate path (immediate.py).

Each mirrors a SQLAlchemy statement of queue.py or output.py, which stays the path for
PostgreSQL and for when SQLite's write lock is taken; the tests exercise both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..domain.output import Chunk
from .schema import UNTAGGED, jobs

_JOB_COLUMNS = frozenset(jobs.c.keys())
_RETURNING = "id, owner_id, owner_type, operation_id, spec, timestamp, heartbeat"


def insert_job(conn: sqlite3.Connection, row: dict[str, Any]) -> None:
    if not set(row) <= _JOB_COLUMNS:  # let the SQLAlchemy path raise its own error
        raise KeyError(sorted(set(row) - _JOB_COLUMNS))
    names = ", ".join(f'"{name}"' for name in row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", tuple(row.values()))


def claim_sql(tag_count: int) -> str:
    """The claim of a runner with ``tag_count`` tags; its parameters: runner, started,
    heartbeat, the tags, limit."""
    # Without tags, the condition of ix_jobs_queue_untagged word for word: its entries are
    # in claim order, so the claim reads the first few and sorts nothing.
    may_take = UNTAGGED
    if tag_count:
        may_take = f"({UNTAGGED} OR runner_tag IN ({', '.join(['?'] * tag_count)}))"
    return (
        "UPDATE jobs SET status = 'running', runner = ?, started = ?, heartbeat = ? "
        "WHERE status = 'queued' AND id IN (SELECT id FROM jobs WHERE status = 'queued' "
        f"AND {may_take} ORDER BY priority, timestamp, id LIMIT ?) RETURNING {_RETURNING}"
    )


def claim(
    conn: sqlite3.Connection, runner: str, tags: Sequence[str], limit: int, now: int
) -> list[tuple]:
    return conn.execute(claim_sql(len(tags)), (runner, now, now, *tags, limit)).fetchall()


def insert_chunks(conn: sqlite3.Connection, pairs: Sequence[tuple[str, Chunk]]) -> None:
    # OR IGNORE: a write retried after a commit whose answer was lost stores nothing twice.
    if pairs:
        conn.executemany(
            'INSERT OR IGNORE INTO job_output (job_id, stream, seq, "offset", data) VALUES (?, ?, ?, ?, ?)',
            [(job_id, c.stream, c.seq, c.offset, c.data) for job_id, c in pairs],
        )


def finish(conn: sqlite3.Connection, runner: str, params: Sequence[dict[str, Any]]) -> int:
    """Rows finished: the same guard and history as queue._finish_statement."""
    cursor = conn.executemany(
        "UPDATE jobs SET status = :b_status, finished = :b_finished, "
        "description = :b_description, error = :b_error, truncated = :b_truncated, "
        "history = CASE WHEN status = 'lost' "
        "THEN json_insert(coalesce(history, '[]'), '$[#]', json(:b_entry)) ELSE history END "
        "WHERE id = :b_id AND status IN ('running', 'lost') AND runner = :b_runner",
        [{**p, "b_runner": runner} for p in params],
    )
    return cursor.rowcount
