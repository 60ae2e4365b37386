"""Importing job history (store/importing.py) in process, on SQLite and PostgreSQL: a hostile
line is reported by number and skipped, and never ends the import or its batch — whatever
it holds, nothing reaches the database that a 64-bit integer or a text column cannot take.
The console script around it is tested in tests/cli/test_import.py."""

from __future__ import annotations

import sqlite3

import orjson
import pytest
from sqlalchemy import select

from helpers.execution import opened_store
from opsjobs.domain.ids import new_id
from opsjobs.domain.job_lines import COLUMNS
from opsjobs.domain.jobs import row_from_document
from opsjobs.domain.values import INT64_MAX
from opsjobs.store import importing
from opsjobs.store.importing import import_lines
from opsjobs.store.schema import jobs

TS = 1704164645678


def line(**fields) -> bytes:
    return orjson.dumps({"id": new_id(), "owner_id": "1", "timestamp": TS, **fields})


HOSTILE = [
    line(timestamp=INT64_MAX + 1),
    line(execution={"status": "failed", "started": "yesterday"}),
    line(execution={"finished": INT64_MAX + 1}),
    line(execution={"error": {"message": "not text"}}),
    line(execution={"runner": "host\0/1"}),
    line(operation={"name": ["restart"]}),
    line(execution={"status": ["failed"]}),
    b'{"id": "%s", "owner_id": "1", "timestamp": {"$date": {"$numberDouble": "Infinity"}}}'
    % new_id().encode(),
    b'{"id": "%s", "owner_id": "1", "timestamp": {"$date": true}}' % new_id().encode(),
    b'{"id": {"$oid": 12}, "owner_id": "1", "timestamp": 1}',
    b'{"id": "%s", "owner_id": "1", "timestamp": 1, "results": %s{"$oid": "x"}%s}'
    % (new_id().encode(), b"[" * 900, b"]" * 900),
    b'{"id": "%s", "owner_id": "1", "timestamp": 1, "results": [%s1%s]}'
    % (new_id().encode(), b"[" * 300, b"]" * 300),
]


async def test_hostile_lines_are_reported_and_the_good_ones_around_them_loaded(
    database_url, backend
):
    good = [line(description={"stdout": "a\0b"}), line(timestamp=INT64_MAX)]
    lines = [good[0], *HOSTILE, good[1]]
    async with opened_store(database_url) as store:
        report = await import_lines(store, lines)
        assert report.loaded == 2
        assert [number for number, _ in report.problems] == list(range(2, 2 + len(HOSTILE)))
        assert all(problem for _, problem in report.problems)
        async with store.read() as conn:
            stored = (await conn.execute(select(jobs.c.timestamp, jobs.c.description))).all()
    assert sorted(row.timestamp for row in stored) == [TS, INT64_MAX]
    assert {"stdout": "a\0b"} in [orjson.loads(row.description) for row in stored]


async def test_batches_see_each_other_repeats_and_stored_ids_and_progress_counts_every_byte(
    database_url, backend, monkeypatch
):
    # Small batches, so repeats and stored IDs fall in other batches than their first line
    # (on SQLite, a batch is written in a thread while the next is parsed).
    monkeypatch.setattr(importing, "BATCH", 3)
    ids = [new_id() for _ in range(8)]
    async with opened_store(database_url) as store:
        first = await import_lines(store, [line(id=ids[0])])
        assert (first.loaded, first.problems) == (1, [])
        lines = [line(id=job_id) for job_id in ids[1:]]
        lines[4:4] = [line(id=ids[0]), b"not json", b"\n", line(id=ids[2])]
        seen: list[int] = []
        report = await import_lines(store, lines, seen.append)
        async with store.read() as conn:
            stored = {row.id for row in await conn.execute(select(jobs.c.id))}
    assert report.loaded == 7 and stored == set(ids)
    assert [number for number, _ in report.problems] == [5, 6, 8]
    assert "already exists" in report.problems[0][1]
    assert "not valid JSON" in report.problems[1][1]
    assert "already exists" in report.problems[2][1]  # line 2's batch is stored by then
    assert sum(seen) == sum(len(x) for x in lines)


async def test_a_failing_batch_ends_the_import_with_its_error_and_keeps_the_batches_before(
    tmp_path, database_url, monkeypatch
):
    monkeypatch.setattr(importing, "BATCH", 2)
    good = [line(), line()]
    async with opened_store(database_url) as store:
        async with store.write() as conn:  # a trigger that refuses one job's insert
            await conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON jobs WHEN NEW.timestamp = 7 "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(sqlite3.IntegrityError):
            await import_lines(store, [*good, line(timestamp=7), line(), line()])
        async with store.read() as conn:
            stored = {row.id for row in await conn.execute(select(jobs.c.id))}
    assert stored == {orjson.loads(x)["id"] for x in good}


SHAPES = [
    {"id": new_id(), "owner_id": "1", "timestamp": TS},
    {
        "id": new_id(),
        "owner_id": "1",
        "owner_type": 2,
        "timestamp": TS + 1,
        "operation_id": new_id(),
        "operation": {"name": "restart"},
        "user_id": new_id(),
        "process_meta": {"pid": 7},
        "description": {"stderr": "no", "exitCode": 2},
        "results": [{"value": 1}],
        "execution": {
            "status": "failed",
            "started": TS,
            "finished": TS + 5,
            "error": "boom",
            "truncated": True,
            "runner": "r1",
        },
    },
    {"id": new_id(), "owner_id": "1", "timestamp": TS + 2, "execution": {"started": None}},
    {"id": new_id(), "owner_id": "1", "timestamp": TS + 3, "execution": {"truncated": False}},
    {"id": new_id(), "owner_id": "1", "timestamp": TS + 4, "operation_id": None, "user_id": None},
]


async def test_every_shape_of_document_is_stored_column_for_column_as_its_row(
    database_url, backend, monkeypatch
):
    # Batches of two, so on SQLite the rows travel through the parsing process, compact
    # (their NULL columns left out of the INSERT, their booleans as integers), and a batch
    # holds rows of different columns.
    monkeypatch.setattr(importing, "BATCH", 2)
    async with opened_store(database_url) as store:
        report = await import_lines(store, [orjson.dumps(shape) for shape in SHAPES])
        async with store.read() as conn:
            columns = [jobs.c[name] for name in COLUMNS]
            stored = {row.id: row._asdict() for row in await conn.execute(select(*columns))}
    assert (report.loaded, report.problems) == (len(SHAPES), [])
    assert stored == {shape["id"]: row_from_document(shape) for shape in SHAPES}
