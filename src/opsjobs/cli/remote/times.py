"""Times on the command line: milliseconds, an ISO date or time, or a while ago (``90m``)."""

from __future__ import annotations

import re
import time
from datetime import datetime

import typer

_AGO = re.compile(r"(\d{1,9})([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
INT64_MAX = 2**63 - 1


def parse_time(text: str | None) -> int | None:
    """``1795963545765`` (ms), ``2026-12-01`` or ``2026-12-01T10:00`` (local time unless it
    says its zone), or ``30m`` / ``2h`` / ``7d`` / ``1w`` before now; as ms."""
    if text is None:
        return None
    text = text.strip()
    if text.isdigit() and len(text) <= 19 and int(text) <= INT64_MAX:
        return int(text)
    if match := _AGO.fullmatch(text):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        return max(0, int((time.time() - seconds) * 1000))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: give ms since the epoch, an ISO date or time, or 30m, 2h, 7d, 1w ago"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return max(0, int(moment.timestamp() * 1000))
