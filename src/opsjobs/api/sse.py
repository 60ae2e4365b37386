"""Server-Sent Events framing (text/event-stream), without a dependency for a few lines."""

from __future__ import annotations

from typing import Any

import orjson

EVENT_STREAM = "text/event-stream"
# Proxies must neither cache nor buffer a live stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
KEEPALIVE = b": keepalive\n\n"


def event(name: str, data: Any, event_id: str | None = None) -> bytes:
    """One event; ``data`` is sent as one line of JSON (orjson never emits raw newlines)."""
    head = f"event: {name}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return head.encode() + b"data: " + orjson.dumps(data) + b"\n\n"
