"""Bulk loading of job history from JSON lines (``opsjobs jobs import``).

Each line is one job document, in opsjobs' shape or as exported from MongoDB (extended JSON).
A line is loaded whole or not at all: bad lines are reported by number and skipped, and a
line whose ID is already stored is reported rather than overwriting history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from ..domain.extjson import plain
from ..domain.jobs import row_from_document
from .core import Store
from .jobs import bulk_insert_jobs, existing_job_ids

BATCH = 5000


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
    batch: list[tuple[int, dict]] = []
    consumed = 0
    for number, line in enumerate(lines, start=1):
        consumed += len(line)
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
            if b'"$' in line:  # extended JSON; plain documents skip the walk
                document = plain(document)
            row = row_from_document(document)
        except orjson.JSONDecodeError as exc:
            report.problems.append((number, f"not valid JSON: {exc}"))
            continue
        except (ValueError, TypeError) as exc:
            report.problems.append((number, str(exc)))
            continue
        batch.append((number, row))
        if len(batch) >= BATCH:
            await _flush(store, batch, report)
            batch = []
            progress(consumed)
            consumed = 0
    if batch:
        await _flush(store, batch, report)
    progress(consumed)
    report.problems.sort()
    return report


async def _flush(store: Store, batch: list[tuple[int, dict]], report: ImportReport) -> None:
    seen: dict[str, int] = {}
    fresh: list[dict] = []
    existing = await existing_job_ids(store, [row["id"] for _, row in batch])
    for number, row in batch:
        if row["id"] in existing:
            report.problems.append((number, f"job {row['id']} already exists"))
        elif row["id"] in seen:
            report.problems.append((number, f"job {row['id']} repeats line {seen[row['id']]}"))
        else:
            seen[row["id"]] = number
            fresh.append(row)
    if fresh:
        await bulk_insert_jobs(store, fresh)
        report.loaded += len(fresh)
