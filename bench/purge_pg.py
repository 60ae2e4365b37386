"""What purging costs on PostgreSQL, at a few million jobs: the figures behind
docs/decisions.md, "Retention".

    .venv/bin/python -m bench.purge_pg --database-url postgresql://127.0.0.1:5432/test --jobs 3000000

Makes a database of its own next to the one named (``opsjobs_purge_bench``, dropped and
made again), migrated, with the benchmark's job history (bench/seed.py: 180 days, IDs
minted for their own second) loaded with COPY. Then, back to back (no pauses, so the figures
are the work itself):

1. the oldest day purged by the retention steps (per-owner minimum 10), and the next 29 days;
2. the same kind of day as one ``DELETE … WHERE timestamp < …`` (rolled back), without an
   index on ``timestamp``, with a BRIN index, and with a B-tree index: what the other
   designs would cost, and what their indexes weigh.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from pathlib import Path

import asyncpg

from opsjobs.domain.ids import new_id
from opsjobs.service.retention import BATCH_SIZE, Policy, purge_once
from opsjobs.store.core import Store
from opsjobs.store.db import Database
from opsjobs.store.migrate import upgrade

from . import seed

NAME = "opsjobs_purge_bench"
ROOT = Path(__file__).resolve().parent
COLUMNS = [
    "id", "owner_id", "owner_type", "operation_id", "operation_name", "user_id", "timestamp",
    "process_meta", "description", "results", "status", "started", "finished", "error",
    "truncated", "runner",
]  # fmt: skip
DAY_MS = 86_400_000


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


async def _fresh_database(url: str) -> str:
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{NAME}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{NAME}"')
    finally:
        await admin.close()
    own = url.rsplit("/", 1)[0] + "/" + NAME
    database = Database(own)
    await upgrade(database)
    await database.dispose()
    return own


async def _load(url: str, jobs: int) -> dict:
    """The history, COPYed with the secondary indexes dropped, then each index rebuilt."""
    rng = random.Random(f"opsjobs-bench-{jobs}")
    epoch = time.time()
    tree, _objects, _parents = seed._tree(rng, epoch)
    _busy, rows = seed._job_rows(rng, tree, jobs, epoch, [new_id() for _ in range(5)])
    conn = await asyncpg.connect(url)
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs' "
            "AND indexname <> 'jobs_pkey'"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        started = time.perf_counter()
        batch: list[tuple] = []
        for row in rows:
            batch.append((*row[:14], bool(row[14]), row[15]))
            if len(batch) == 100_000:
                await conn.copy_records_to_table("jobs", records=batch, columns=COLUMNS)
                batch = []
        if batch:
            await conn.copy_records_to_table("jobs", records=batch, columns=COLUMNS)
        figures = {
            "copy_seconds": round(time.perf_counter() - started, 1),
            "index_build_seconds": {},
        }
        for index in indexes:
            started = time.perf_counter()
            await conn.execute(index["indexdef"])
            figures["index_build_seconds"][index["indexname"]] = round(time.perf_counter() - started, 1)  # fmt: skip
        await conn.execute("VACUUM ANALYZE jobs")
        figures["sizes_mib"] = await _sizes(conn)
    finally:
        await conn.close()
    return figures


async def _sizes(conn) -> dict:
    rows = await conn.fetch(
        "SELECT c.relname, pg_relation_size(c.oid) AS bytes FROM pg_class c "
        "WHERE c.relname = 'jobs' OR c.oid IN (SELECT indexrelid FROM pg_index "
        "WHERE indrelid = 'jobs'::regclass)"
    )
    return {r["relname"]: round(r["bytes"] / 2**20, 1) for r in rows}


async def _purge(url: str, days: float, keep: int = 10) -> dict:
    store = Store(url)
    await store.open()
    try:
        started = time.perf_counter()
        run = await purge_once(store, Policy(job_days=days, keep=keep), pause=0)
        seconds = time.perf_counter() - started
    finally:
        await store.close()
    tally = run.steps[0].tally
    deleted = run.deleted["jobs"]
    batches = max(1, -(-tally.scanned // BATCH_SIZE))
    return {
        "older_than_days": days,
        "deleted": deleted,
        "kept_by_minimum": tally.kept,
        "scanned": tally.scanned,
        "seconds": round(seconds, 2),
        "rows_per_second": round(deleted / seconds) if seconds else None,
        "ms_per_batch": round(seconds / batches * 1000, 1),
    }


async def _one_statement(conn, days: float) -> dict:
    """A day deleted by one statement, rolled back: (plan's first line, seconds, rows)."""
    cutoff = int(time.time() * 1000 - days * DAY_MS)
    transaction = conn.transaction()
    await transaction.start()
    try:
        started = time.perf_counter()
        plan = await conn.fetch(
            "EXPLAIN (ANALYZE, FORMAT JSON) DELETE FROM jobs WHERE timestamp >= $1 "
            "AND timestamp < $2 AND status NOT IN ('queued', 'running')",
            cutoff - DAY_MS,
            cutoff,
        )
        seconds = time.perf_counter() - started
    finally:
        await transaction.rollback()
    top = json.loads(plan[0][0])[0]["Plan"]
    scan = top["Plans"][0] if top.get("Plans") else top
    return {"scan": scan["Node Type"], "rows": top.get("Actual Rows") or scan.get("Actual Rows"), "seconds": round(seconds, 2)}  # fmt: skip


async def _alternatives(url: str, days: float) -> dict:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    found = {}
    try:
        found["no index on timestamp"] = await _one_statement(conn, days)
        for name, using in (("BRIN", "brin"), ("B-tree", "btree")):
            started = time.perf_counter()
            await conn.execute(f"CREATE INDEX ix_alt ON jobs USING {using} (timestamp)")
            build = round(time.perf_counter() - started, 1)
            await conn.execute("ANALYZE jobs")
            size = await conn.fetchval("SELECT pg_relation_size('ix_alt')")
            found[name] = await _one_statement(conn, days)
            found[name].update(build_seconds=build, index_mib=round(size / 2**20, 1))
            await conn.execute("DROP INDEX ix_alt")
    finally:
        await conn.close()
    return found


async def main_async(url: str, jobs: int) -> dict:
    log(f"database {NAME}: migrating, then loading {jobs:,} jobs")
    own = await _fresh_database(url)
    figures: dict = {"jobs": jobs, "load": await _load(own, jobs)}
    log(f"loaded: {figures['load']}")
    figures["oldest_day"] = await _purge(own, seed.HISTORY_DAYS - 1)
    log(f"oldest day: {figures['oldest_day']}")
    figures["next_29_days"] = await _purge(own, seed.HISTORY_DAYS - 30)
    log(f"next 29 days: {figures['next_29_days']}")
    figures["a_day_in_one_statement"] = await _alternatives(own, seed.HISTORY_DAYS - 31)
    log(f"one statement: {figures['a_day_in_one_statement']}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.purge_pg", description=__doc__)
    parser.add_argument("--database-url", required=True, help="postgresql://host:port/db")
    parser.add_argument("--jobs", type=int, default=3_000_000)
    args = parser.parse_args(argv)
    figures = asyncio.run(main_async(args.database_url, args.jobs))
    out = ROOT / "results" / "purge_pg.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    log(f"figures in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
