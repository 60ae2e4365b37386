"""domain/job_lines.py: lines parsed into rows, and rows made compact for SQLite's writer —
a None is left out only where leaving the column out stores NULL, booleans become integers,
and the mask names exactly the columns kept."""

from __future__ import annotations

import orjson

from opsjobs.domain.ids import new_id
from opsjobs.domain.job_lines import COLUMNS, ID, parse_chunk, parse_chunk_compact

NO_DEFAULTS = tuple(True for _ in COLUMNS)


def _line(**fields) -> bytes:
    return orjson.dumps({"id": new_id(), "owner_id": "1", "timestamp": 5, **fields})


def _expanded(values: tuple, present: int) -> tuple:
    """The full row a compact one stands for, NULLs put back."""
    kept = iter(values)
    return tuple(next(kept) if present >> i & 1 else None for i in range(len(COLUMNS)))


def test_a_compact_row_is_its_row_without_the_nulls_and_with_integers_for_booleans():
    lines = [_line(), _line(execution={"truncated": True, "runner": "r", "error": "e"})]
    (rows, problems), (compact, compact_problems) = (
        parse_chunk(1, lines),
        parse_chunk_compact(1, lines, NO_DEFAULTS),
    )
    assert problems == compact_problems == []
    for (number, row), (compact_number, values, present) in zip(rows, compact, strict=True):
        assert number == compact_number and values[ID] == row[ID]
        assert None not in values and not any(type(v) is bool for v in values)
        assert _expanded(values, present) == tuple(int(v) if type(v) is bool else v for v in row)


def test_a_none_is_kept_where_leaving_the_column_out_would_store_its_default():
    (line,) = [_line()]
    ((_, row),) = parse_chunk(1, [line])[0]
    nulls = [i for i, value in enumerate(row) if value is None]
    assert nulls, "the plain document leaves some columns NULL"
    defaulted = tuple(i not in nulls[:1] for i in range(len(COLUMNS)))
    ((_, values, present),), _ = parse_chunk_compact(1, [line], defaulted)
    assert present >> nulls[0] & 1, "the column with a default is bound, as None"
    assert values.count(None) == 1
    assert _expanded(values, present) == tuple(int(v) if type(v) is bool else v for v in row)


def test_bad_lines_are_problems_in_both_shapes():
    lines = [b"not json", _line(owner_type=3), b"  \n", _line()]
    for parse in (parse_chunk, lambda f, ls: parse_chunk_compact(f, ls, NO_DEFAULTS)):
        batch, problems = parse(10, lines)
        assert [number for number, *_ in batch] == [13]
        assert [number for number, _ in problems] == [10, 11]
