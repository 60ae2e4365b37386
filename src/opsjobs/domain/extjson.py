"""MongoDB extended JSON (as ``mongoexport`` writes it) turned into plain values."""

from __future__ import annotations

from datetime import datetime
from typing import Any

_NESTED = (dict, list)


def plain(value: Any) -> Any:
    """Replace ``{"$oid": ...}``, ``{"$numberLong": ...}``, ``{"$date": ...}`` and friends."""
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, inner),) = value.items()
            if key == "$oid":
                return str(inner)
            if key in ("$numberLong", "$numberInt"):
                return int(inner)
            if key == "$numberDouble":
                return float(inner)
            if key == "$date":
                return _date_ms(inner)
        return {k: plain(v) if isinstance(v, _NESTED) else v for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) if isinstance(v, _NESTED) else v for v in value]
    return value


def _date_ms(inner: Any) -> int:
    if isinstance(inner, dict):
        inner = plain(inner)
    if isinstance(inner, (int, float)):
        return int(inner)
    if isinstance(inner, str):
        return int(datetime.fromisoformat(inner.replace("Z", "+00:00")).timestamp() * 1000)
    raise ValueError(f"unreadable $date: {inner!r}")
