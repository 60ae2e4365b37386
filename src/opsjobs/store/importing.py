"""Bulk loading of job history from JSON lines (``opsjobs jobs import``).

Each line is one job document, in opsjobs' shape or as exported from MongoDB (extended JSON).
A line is loaded whole or not at all: bad lines are reported by number and skipped, and a
line whose ID is already stored is reported rather than overwriting history.

Lines go in by batches, each one transaction. On SQLite (a file), a batch is written by a
connection of the import's own in a worker thread while the next batch is parsed on the
loop: SQLite lets go of the GIL while it writes, so on two cores the import takes about as
long as the slower of the two rather than their sum (docs/decisions.md, "Importing").
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..domain.extjson import plain
from ..domain.jobs import row_from_document
from .core import Store
from .db import SQLITE_PRAGMAS, sqlite_path
from .jobs import bulk_insert_jobs, existing_job_ids

BATCH = 20_000
# The import's own SQLite connection: a page cache that holds the indexes' hot pages across
# batches, and a checkpoint every 64 MiB of WAL instead of every 4 MiB (each one copies the
# same index pages to the file again and waits for the disk).
IMPORT_PRAGMAS = ("PRAGMA cache_size=-131072", "PRAGMA wal_autocheckpoint=16384")

Batch = list[tuple[int, dict[str, Any]]]


@dataclass
class ImportReport:
    loaded: int = 0
    problems: list[tuple[int, str]] = field(default_factory=list)


async def import_lines(
    store: Store,
    lines: Iterable[bytes],
    progress: Callable[[int], None] = lambda _bytes: None,
) -> ImportReport:
    report = ImportReport()
    path = sqlite_path(store.db.url) if store.is_sqlite else None
    if path is None or path == ":memory:":
        for batch, consumed in _batches(lines, report):
            await _flush(store, batch, report)
            progress(consumed)
    else:
        loader = _SqliteLoader(path, store.db.timeout)
        try:
            await _pipelined(loader, _batches(lines, report), report, progress)
        finally:
            loader.close()
    report.problems.sort()
    return report


def _batches(lines: Iterable[bytes], report: ImportReport) -> Iterator[tuple[Batch, int]]:
    """Parsed rows by batches of BATCH, with the bytes each consumed; bad lines go to the
    report. Always yields at least once (an empty batch at the end), so progress completes."""
    batch: Batch = []
    consumed = 0
    for number, line in enumerate(lines, start=1):
        consumed += len(line)
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
            if b'"$' in line:  # extended JSON; plain documents skip the walk
                document = plain(document)
            batch.append((number, row_from_document(document)))
        except orjson.JSONDecodeError as exc:
            report.problems.append((number, f"not valid JSON: {exc}"))
        except (ValueError, TypeError) as exc:
            report.problems.append((number, str(exc)))
        if len(batch) >= BATCH:
            yield batch, consumed
            batch, consumed = [], 0
    yield batch, consumed


async def _pipelined(
    loader: _SqliteLoader,
    batches: Iterator[tuple[Batch, int]],
    report: ImportReport,
    progress: Callable[[int], None],
) -> None:
    """Write each batch in the loader's thread while the next is parsed here; one batch in
    flight at most, so memory stays at two batches."""
    loop = asyncio.get_running_loop()
    in_flight: tuple[asyncio.Future, int] | None = None
    try:
        for batch, consumed in batches:
            if in_flight is not None:
                _account(await in_flight[0], report)
                progress(in_flight[1])
            # Submitted to the thread at once, not when the loop next turns.
            in_flight = (loop.run_in_executor(loader.executor, loader.load, batch), consumed)
        if in_flight is not None:
            _account(await in_flight[0], report)
            progress(in_flight[1])
            in_flight = None
    finally:
        if in_flight is not None:  # an error here: let the batch in flight end first
            await asyncio.gather(in_flight[0], return_exceptions=True)


def _account(outcome: tuple[int, list[tuple[int, str]]], report: ImportReport) -> None:
    loaded, problems = outcome
    report.loaded += loaded
    report.problems.extend(problems)


def _sift(batch: Batch, existing: set[str]) -> tuple[list[dict], list[tuple[int, str]]]:
    """The rows to insert, and a problem for each line whose job is stored or repeated."""
    seen: dict[str, int] = {}
    fresh: list[dict] = []
    problems: list[tuple[int, str]] = []
    for number, row in batch:
        job_id = row["id"]
        if job_id in existing:
            problems.append((number, f"job {job_id} already exists"))
        elif job_id in seen:
            problems.append((number, f"job {job_id} repeats line {seen[job_id]}"))
        else:
            seen[job_id] = number
            fresh.append(row)
    return fresh, problems


async def _flush(store: Store, batch: Batch, report: ImportReport) -> None:
    if not batch:
        return
    existing = await existing_job_ids(store, [row["id"] for _, row in batch])
    fresh, problems = _sift(batch, existing)
    report.problems.extend(problems)
    if fresh:
        await bulk_insert_jobs(store, fresh)
        report.loaded += len(fresh)


class _SqliteLoader:
    """Batches into a SQLite file through a connection of the import's own, in one thread."""

    _EXISTING = "SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))"

    def __init__(self, path: str, timeout: float) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="opsjobs-import")
        self.conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        for pragma in (*SQLITE_PRAGMAS, f"PRAGMA busy_timeout={int(timeout * 1000)}"):
            self.conn.execute(pragma)
        for pragma in IMPORT_PRAGMAS:
            self.conn.execute(pragma)
        self._insert: str | None = None

    def load(self, batch: Batch) -> tuple[int, list[tuple[int, str]]]:
        """One transaction: which IDs are stored already, then the rest inserted."""
        if not batch:
            return 0, []
        conn = self.conn
        ids = orjson.dumps([row["id"] for _, row in batch]).decode()
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = {found for (found,) in conn.execute(self._EXISTING, (ids,))}
            fresh, problems = _sift(batch, existing)
            if fresh:
                if self._insert is None:  # every row of row_from_document has the same keys
                    columns = list(fresh[0])
                    self._insert = (
                        f"INSERT INTO jobs ({', '.join(columns)}) "
                        f"VALUES ({', '.join('?' * len(columns))})"
                    )
                conn.executemany(self._insert, [tuple(row.values()) for row in fresh])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(fresh), problems

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.conn.close()
