"""Job history as JSON lines, parsed into rows of the jobs table (``opsjobs jobs import``).

Pure: no database here. store/importing.py writes the rows, and on SQLite runs this module
in a process of its own, which therefore imports only what parsing needs.
"""

from __future__ import annotations

from typing import Any

import orjson

from .extjson import plain
from .jobs import row_from_document

# A parsed row is a tuple in COLUMNS' order (cheaper to pass between processes than a dict);
# the columns are taken from row_from_document itself, so the two cannot drift apart.
COLUMNS = tuple(row_from_document({"id": "0" * 24, "owner_id": "0" * 24, "timestamp": 0}))
ID = COLUMNS.index("id")
assert ID == 0, "a compact row (below) keeps the ID first only if it is the first column"
# (line number, row): the row in COLUMNS' order.
Batch = list[tuple[int, tuple[Any, ...]]]
# (line number, values, present): a row as SQLite takes it fastest, its NULLs left out
# (``present`` has bit i set when COLUMNS[i] has a value) and its booleans as integers.
# Binding a None or a bool costs sqlite3 a lookup for an adapter, and a row has about five
# (docs/decisions.md, "Importing").
CompactBatch = list[tuple[int, tuple[Any, ...], int]]
Problems = list[tuple[int, str]]


def parse_chunk(first: int, lines: list[bytes]) -> tuple[Batch, Problems]:
    """Rows parsed from lines numbered from ``first``, and a problem for each bad line."""
    batch: Batch = []
    problems: Problems = []
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            document = orjson.loads(line)
            if b'"$' in line:  # extended JSON; plain documents skip the walk
                document = plain(document)
            batch.append((number, tuple(row_from_document(document).values())))
        except orjson.JSONDecodeError as exc:
            problems.append((number, f"not valid JSON: {exc}"))
        except (ValueError, TypeError) as exc:
            problems.append((number, str(exc)))
    return batch, problems


def parse_chunk_compact(
    first: int, lines: list[bytes], left_out_is_null: tuple[bool, ...]
) -> tuple[CompactBatch, Problems]:
    """parse_chunk's rows made compact (CompactBatch). ``left_out_is_null[i]``: whether an
    INSERT that leaves COLUMNS[i] out stores NULL (the column has no default), so that a
    None there may be left out. A top-level function of plain values in and out: it runs in
    the parsing process."""
    batch, problems = parse_chunk(first, lines)
    return [(number, *_compact(row, left_out_is_null)) for number, row in batch], problems


def _compact(
    row: tuple[Any, ...], left_out_is_null: tuple[bool, ...]
) -> tuple[tuple[Any, ...], int]:
    present = 0
    values = []
    for index, value in enumerate(row):
        if value is None and left_out_is_null[index]:
            continue
        present |= 1 << index
        values.append(int(value) if value.__class__ is bool else value)
    return tuple(values), present
