"""MongoDB extended JSON (as ``mongoexport`` writes it) turned into plain values."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

_NESTED = (dict, list)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# orjson writes at most this many levels back, so nothing deeper could be stored anyway; the
# bound also keeps the walk below far from Python's recursion limit.
MAX_NESTING = 254


def plain(value: Any, depth: int = 0) -> Any:
    """Replace ``{"$oid": ...}``, ``{"$numberLong": ...}``, ``{"$date": ...}`` and friends;
    ValueError or TypeError for one that cannot be read."""
    if depth > MAX_NESTING:
        raise ValueError(f"nested deeper than {MAX_NESTING} levels")
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            convert = _CONVERTERS.get(key)
            if convert is not None:
                return convert(inner)
        return {k: plain(v, depth + 1) if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, depth + 1) if isinstance(v, _NESTED) else v for v in value]
    return value


def _oid(inner: Any) -> str:
    if not isinstance(inner, str):
        raise ValueError(f"unreadable $oid: {inner!r}")
    return inner


def _number(inner: Any) -> int | float:
    """A ``$numberLong``/``$numberInt``/``$numberDouble`` wrapped once more, as ``$date`` may
    hold it; nothing else nests there."""
    if isinstance(inner, dict) and len(inner) == 1:
        ((key, text),) = inner.items()
        if key in _NUMBERS:
            return _NUMBERS[key](text)
    raise ValueError(f"unreadable $date: {inner!r}")


def _date_ms(inner: Any) -> int:
    if isinstance(inner, dict):
        inner = _number(inner)
    if isinstance(inner, bool):
        raise ValueError(f"unreadable $date: {inner!r}")
    if isinstance(inner, int):
        return inner
    if isinstance(inner, float) and math.isfinite(inner):
        return int(inner)
    if isinstance(inner, str):
        moment = datetime.fromisoformat(inner.replace("Z", "+00:00"))
        if moment.tzinfo is None:  # MongoDB's dates are UTC; never the importing host's zone
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // _MS  # exact: no float of seconds in between
    raise ValueError(f"unreadable $date: {inner!r}")


_NUMBERS = {"$numberLong": int, "$numberInt": int, "$numberDouble": float}
_CONVERTERS = {"$oid": _oid, **_NUMBERS, "$date": _date_ms}
