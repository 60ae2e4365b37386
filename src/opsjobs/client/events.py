"""The live stream of a job (``GET /jobs/{job_id}/stream``, docs/api.md §8) as events.

:class:`EventParser` reads text/event-stream lines as the WHATWG rules say (the parts
opsjobs sends); :class:`Resume` keeps where a stream got to, so that a broken connection
is picked up again from ``Last-Event-ID`` without losing or repeating output. Both clients
share them; only reading lines differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError, TransportError

# Reconnecting after a break: this many times in a row without any event, this far apart.
RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY_SECONDS = 0.5


@dataclass(frozen=True)
class OutputEvent:
    """Output of one stream (``stdout`` or ``stderr``) from byte ``offset``."""

    stream: str
    offset: int
    data: str
    id: str | None = None


@dataclass(frozen=True)
class EndEvent:
    """The job finished; ``job`` is its final document."""

    job: dict[str, Any]


Event = OutputEvent | EndEvent


@dataclass
class EventParser:
    """Feed it lines without their ends; it answers an event when one is complete."""

    name: str = ""
    data: list[str] = field(default_factory=list)
    last_id: str | None = None

    def feed(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: the keep-alive
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self.name = value
        elif name == "data":
            self.data.append(value)
        elif name == "id" and "\0" not in value:
            self.last_id = value
        return None

    def _dispatch(self) -> Event | None:
        name, data = self.name or "message", "\n".join(self.data)
        self.name, self.data = "", []
        if not data and name == "message":
            return None
        try:
            payload = json.loads(data)
        except ValueError:
            raise ProtocolError(f"stream: the {name!r} event's data is not JSON") from None
        return _event(name, payload, self.last_id)


def _event(name: str, payload: Any, event_id: str | None) -> Event | None:
    if name == "end":
        if not isinstance(payload, dict):
            raise ProtocolError("stream: the end event holds no job document")
        return EndEvent(payload)
    if name != "output":
        return None  # an event this client does not know: ignored, as EventSource would
    try:
        return OutputEvent(
            str(payload["stream"]), int(payload["offset"]), str(payload["data"]), event_id
        )
    except (KeyError, TypeError, ValueError):
        raise ProtocolError("stream: an output event without stream, offset and data") from None


@dataclass
class Resume:
    """Where a stream got to, and whether to try again after it broke."""

    last_event_id: str | None = None
    failures: int = 0

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}

    def seen(self, event: Event) -> None:
        if isinstance(event, OutputEvent) and event.id:
            self.last_event_id = event.id
        self.failures = 0

    def broken(self, reason: str) -> float:
        """The delay before reconnecting; raises once too many tries in a row failed."""
        self.failures += 1
        if self.failures > RECONNECT_ATTEMPTS:
            raise TransportError(f"stream: {reason}; gave up after {RECONNECT_ATTEMPTS} retries")
        return RECONNECT_DELAY_SECONDS * self.failures
