"""Importing job history (store/importing.py) in process, on SQLite and PostgreSQL: a hostile
line is reported by number and skipped, and never ends the import or its batch — whatever
it holds, nothing reaches the database that a 64-bit integer or a text column cannot take.
The console script around it is tested in tests/cli/test_import.py."""

from __future__ import annotations

import orjson
from sqlalchemy import select

from helpers.execution import opened_store
from opsjobs.domain.ids import new_id
from opsjobs.domain.values import INT64_MAX
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
