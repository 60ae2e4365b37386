"""SQLite's immediate writer (store/immediate.py): writes asked for in one turn of the event
loop share one transaction; one that fails fails alone."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from helpers.notes import note, notes_store
from opsjobs.store.immediate import Busy


@pytest.fixture
async def writer(tmp_path, sqlite_template):
    async with notes_store(tmp_path, sqlite_template) as store:
        yield store.immediate


def notes(writer) -> list[int]:
    return [row[0] for row in writer.conn.execute("SELECT n FROM notes ORDER BY n")]


async def test_writes_of_one_turn_share_one_commit(writer):
    before = writer.conn.total_changes
    commits = writer._commits
    results = await asyncio.gather(*(writer.run_batched(note(n)) for n in range(1, 6)))
    assert results == [1, 2, 3, 4, 5]
    assert notes(writer) == [1, 2, 3, 4, 5]
    assert writer.conn.total_changes - before == 5
    assert writer._commits - commits == 1


async def test_a_failing_write_gets_its_error_and_the_others_are_kept(writer):
    await writer.run_batched(note(7))
    outcomes = await asyncio.gather(
        writer.run_batched(note(8)),
        writer.run_batched(note(7)),  # the same key again: this one alone fails
        writer.run_batched(note(9)),
        return_exceptions=True,
    )
    assert outcomes[0] == 8 and outcomes[2] == 9
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert notes(writer) == [7, 8, 9]


async def test_a_write_failing_halfway_leaves_none_of_its_rows(writer):
    def half(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO notes (n, text) VALUES (20, 'half')")
        raise ValueError("after its first row")

    outcomes = await asyncio.gather(
        writer.run_batched(note(19)),
        writer.run_batched(half),
        writer.run_batched(note(21)),
        return_exceptions=True,
    )
    assert outcomes[0] == 19 and outcomes[2] == 21
    assert isinstance(outcomes[1], ValueError)
    assert notes(writer) == [19, 21]


async def test_a_write_whose_caller_went_away_is_not_made(writer):
    kept = asyncio.ensure_future(writer.run_batched(note(1)))
    dropped = asyncio.ensure_future(writer.run_batched(note(2)))
    await asyncio.sleep(0)  # both are waiting for their turn
    dropped.cancel()
    assert await kept == 1
    assert notes(writer) == [1]


async def test_every_write_of_the_turn_is_busy_while_another_connection_writes(writer):
    other = sqlite3.connect(writer.path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        outcomes = await asyncio.gather(
            writer.run_batched(note(1)), writer.run_batched(note(2)), return_exceptions=True
        )
        assert all(isinstance(outcome, Busy) for outcome in outcomes)
        other.execute("ROLLBACK")
    finally:
        other.close()
    assert notes(writer) == []
    assert await writer.run_batched(note(3)) == 3
