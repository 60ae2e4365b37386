"""The 0010 migration: the batches and batch_targets tables, and jobs.priority leading the
queue's index, added to a database with jobs in it and taken away again; queued jobs a
trigger or a schedule started wait behind the people's from then on, and the jobs stay."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from helpers.migrations import database_at, migrate_to
from opsjobs.store.db import normalize_url

BEFORE = "0009_retention"
JOBS = [
    ("6b0c3a99109606ffd3a35595", "succeeded", None),
    ("6b0c3a99109606ffd3a35596", "queued", None),
    ("6b0c3a99109606ffd3a35597", "queued", '{"schedule": {}}'),
]


async def _look(url: str) -> tuple[set[str], dict, list]:
    engine = create_async_engine(normalize_url(url))
    async with engine.connect() as conn:

        def read(sync_conn):
            found = inspect(sync_conn)
            indexes = {i["name"]: i["column_names"] for i in found.get_indexes("jobs")}
            columns = {c["name"] for c in found.get_columns("jobs")}
            return set(found.get_table_names()), indexes, columns

        tables, indexes, columns = await conn.run_sync(read)
        priority = ", priority" if "priority" in columns else ""
        rows = await conn.execute(text(f"SELECT id, status{priority} FROM jobs ORDER BY id"))
        rows = [tuple(r) for r in rows]
    await engine.dispose()
    return tables, indexes, rows


async def test_up_and_down_keep_the_jobs(backend, tmp_path) -> None:
    async with database_at(backend, tmp_path, BEFORE) as url:
        engine = create_async_engine(normalize_url(url))
        async with engine.begin() as conn:
            for job_id, status, meta in JOBS:
                await conn.execute(
                    text(
                        "INSERT INTO jobs (id, owner_id, owner_type, timestamp, status, "
                        "process_meta) VALUES (:id, '1', 1, 5, :status, :meta)"
                    ),
                    {"id": job_id, "status": status, "meta": meta},
                )
        await engine.dispose()
        await migrate_to(url, "0010_batches")
        tables, indexes, rows = await _look(url)
        assert {"batches", "batch_targets"} <= tables
        assert indexes["ix_jobs_queue"] == ["priority", "timestamp"]
        assert rows == [
            (JOBS[0][0], "succeeded", 0),
            (JOBS[1][0], "queued", 0),
            (JOBS[2][0], "queued", 1),
        ]
        await migrate_to(url, BEFORE, down=True)
        tables, indexes, rows = await _look(url)
        assert not {"batches", "batch_targets"} & tables
        assert indexes["ix_jobs_queue"] == ["timestamp"]
        assert rows == [(job_id, status) for job_id, status, _ in JOBS]
