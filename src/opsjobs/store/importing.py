"""Bulk loading of job history from JSON lines (``opsjobs jobs import``).

Each line is one job document, in opsjobs' shape or as exported from MongoDB (extended JSON).
A line is loaded whole or not at all: bad lines are reported by number and skipped, and a
line whose ID is already stored is reported rather than overwriting history.

Lines go in by batches, each one transaction. On SQLite (a file), a batch is written by a
connection of the import's own in a worker thread while the next batches are parsed
(domain/job_lines.py) in a process of their own, so on two cores the import takes about as
long as the writing alone (docs/decisions.md, "Importing": parsed in this process, the two
took turns at the GIL).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import signal
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import orjson

from ..domain.job_lines import (
    COLUMNS,
    ID,
    Batch,
    CompactBatch,
    Problems,
    parse_chunk,
    parse_chunk_compact,
)
from .core import Store
from .db import SQLITE_PRAGMAS, sqlite_path
from .jobs import bulk_insert_jobs, existing_job_ids
from .schema import jobs

BATCH = 20_000
PARSED_AHEAD = 2
# The import's own SQLite connection: a page cache that holds the indexes' hot pages across
# batches, and a checkpoint every 64 MiB of WAL instead of every 4 MiB (each one copies the
# same index pages to the file again and waits for the disk).
IMPORT_PRAGMAS = ("PRAGMA cache_size=-131072", "PRAGMA wal_autocheckpoint=16384")

# Which columns store NULL when an INSERT leaves them out: those without a server default.
# A None for one with a default is bound as before (and refused where the column is NOT NULL).
_LEFT_OUT_IS_NULL = tuple(jobs.c[name].server_default is None for name in COLUMNS)


@dataclass
class ImportReport:
    loaded: int = 0
    problems: Problems = field(default_factory=list)


async def import_lines(
    store: Store,
    lines: Iterable[bytes],
    progress: Callable[[int], None] = lambda _bytes: None,
) -> ImportReport:
    report = ImportReport()
    path = sqlite_path(store.db.url) if store.is_sqlite else None
    if path is None or path == ":memory:":
        for chunk in _chunks(lines):
            batch, problems = parse_chunk(chunk.first, chunk.lines)
            report.problems.extend(problems)
            await _flush(store, batch, report)
            progress(chunk.consumed)
    else:
        loader = _SqliteLoader(path, store.db.timeout)
        try:
            async with _Parser() as parser:
                await _pipelined(loader, parser.parsed(_chunks(lines)), report, progress)
        finally:
            loader.close()
    report.problems.sort()
    return report


@dataclass(frozen=True)
class _Chunk:
    first: int  # the number of its first line
    lines: list[bytes]
    consumed: int  # bytes, blank lines included


def _chunks(lines: Iterable[bytes]) -> Iterator[_Chunk]:
    """The input by BATCH lines. Always yields at least once (an empty chunk at the end of an
    empty input), so progress completes."""
    chunk: list[bytes] = []
    first, consumed = 1, 0
    for number, line in enumerate(lines, start=1):
        chunk.append(line)
        consumed += len(line)
        if len(chunk) >= BATCH:
            yield _Chunk(first, chunk, consumed)
            chunk, first, consumed = [], number + 1, 0
    if chunk or first == 1:
        yield _Chunk(first, chunk, consumed)


class _Parser:
    """Parses chunks in a process of its own, two ahead of the writer: the writer's thread
    binds every row's values holding the GIL, so parsing in the same process took turns with
    it rather than running beside it (docs/decisions.md, "Importing"). An input of one chunk
    is parsed here, sparing the process's start."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def __aenter__(self) -> _Parser:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    async def parsed(self, chunks: Iterator[_Chunk]) -> AsyncIterator[tuple[_Chunk, tuple]]:
        first = next(chunks)
        second = next(chunks, None)
        if second is None:
            yield first, parse_chunk_compact(first.first, first.lines, _LEFT_OUT_IS_NULL)
            return
        # Ctrl-C reaches the whole process group: the import stops its parser, which would
        # otherwise print a traceback of its own.
        self._pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=get_context("spawn"),
            initializer=signal.signal,
            initargs=(signal.SIGINT, signal.SIG_IGN),
        )
        loop = asyncio.get_running_loop()
        ahead: deque[tuple[_Chunk, asyncio.Future]] = deque()
        for chunk in itertools.chain((first, second), chunks):
            ahead.append(
                (
                    chunk,
                    loop.run_in_executor(
                        self._pool, parse_chunk_compact, chunk.first, chunk.lines, _LEFT_OUT_IS_NULL
                    ),
                )
            )
            if len(ahead) > PARSED_AHEAD:
                done, future = ahead.popleft()
                yield done, await future
        while ahead:
            done, future = ahead.popleft()
            yield done, await future


async def _pipelined(
    loader: _SqliteLoader,
    parsed: AsyncIterator[tuple[_Chunk, tuple[CompactBatch, Problems]]],
    report: ImportReport,
    progress: Callable[[int], None],
) -> None:
    """Write each batch in the loader's thread while the next ones are parsed; one batch in
    flight at most."""
    loop = asyncio.get_running_loop()
    in_flight: tuple[asyncio.Future, int] | None = None
    try:
        async for chunk, (batch, problems) in parsed:
            report.problems.extend(problems)
            if in_flight is not None:
                _account(await in_flight[0], report)
                progress(in_flight[1])
            # Submitted to the thread at once, not when the loop next turns.
            in_flight = (loop.run_in_executor(loader.executor, loader.load, batch), chunk.consumed)
        if in_flight is not None:
            _account(await in_flight[0], report)
            progress(in_flight[1])
            in_flight = None
    finally:
        if in_flight is not None:  # an error here: let the batch in flight end first
            await asyncio.gather(in_flight[0], return_exceptions=True)


def _account(outcome: tuple[int, Problems], report: ImportReport) -> None:
    loaded, problems = outcome
    report.loaded += loaded
    report.problems.extend(problems)


def _sift(batch: list[tuple], existing: set[str]) -> tuple[list[tuple], Problems]:
    """The entries (a Batch's or a CompactBatch's) to insert, and a problem for each line whose
    job is stored or repeated."""
    seen: dict[str, int] = {}
    fresh: list[tuple] = []
    problems: Problems = []
    for entry in batch:
        number, job_id = entry[0], entry[1][ID]
        if job_id in existing:
            problems.append((number, f"job {job_id} already exists"))
        elif job_id in seen:
            problems.append((number, f"job {job_id} repeats line {seen[job_id]}"))
        else:
            seen[job_id] = number
            fresh.append(entry)
    return fresh, problems


async def _flush(store: Store, batch: Batch, report: ImportReport) -> None:
    if not batch:
        return
    existing = await existing_job_ids(store, [row[ID] for _, row in batch])
    fresh, problems = _sift(batch, existing)
    report.problems.extend(problems)
    if fresh:
        await bulk_insert_jobs(store, [dict(zip(COLUMNS, row, strict=True)) for _, row in fresh])
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

    def load(self, batch: CompactBatch) -> tuple[int, Problems]:
        """One transaction: which IDs are stored already, then the rest inserted, an INSERT
        for each set of columns present (a batch has few: NULLs come from a document's
        shape)."""
        if not batch:
            return 0, []
        conn = self.conn
        ids = orjson.dumps([values[ID] for _, values, _ in batch]).decode()
        conn.execute("BEGIN IMMEDIATE")
        try:
            existing = {found for (found,) in conn.execute(self._EXISTING, (ids,))}
            fresh, problems = _sift(batch, existing)
            by_columns: dict[int, list[tuple]] = {}
            for _, values, present in fresh:
                by_columns.setdefault(present, []).append(values)
            for present, rows in by_columns.items():
                conn.executemany(_insert_sql(present), rows)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return len(fresh), problems

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.conn.close()


@functools.cache
def _insert_sql(present: int) -> str:
    """The INSERT of the columns a compact row's ``present`` names (column names are
    COLUMNS', never the input's)."""
    columns = [name for index, name in enumerate(COLUMNS) if present >> index & 1]
    return f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
