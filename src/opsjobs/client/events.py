"""The live stream of a job (``GET /jobs/{job_id}/stream``, docs/api.md §8) as events.

:class:`EventParser` reads text/event-stream lines as the WHATWG rules say (the parts
opsjobs sends); :class:`Resume` keeps where a stream got to, so that a broken connection
is picked up again from ``Last-Event-ID`` without losing or repeating output. Both clients
share them; only reading the body differs.

A stream comes from a server the client cannot trust to end its lines or its events: what
one event may hold is bounded (:data:`MAX_EVENT_CHARS`), and a stream past it is a
:class:`ProtocolError`, never memory that grows without end.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ProtocolError, TransportError

# Reconnecting after a break: this many times in a row without any event, this far apart.
RECONNECT_ATTEMPTS = 5
RECONNECT_DELAY_SECONDS = 0.5
# The most one event (its lines together) may hold. The largest opsjobs sends is the end
# event's job document, whose output is capped by the server (1 MiB a stream by default,
# each byte at most six characters of JSON); this leaves room for a raised cap.
MAX_EVENT_CHARS = 64 * 1024 * 1024
_LINE_END = re.compile(r"\r\n|\r|\n")


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
    # Text of a line not ended yet, and how much the event being read holds so far.
    pending: str = ""
    size: int = 0
    # The last piece ended with CR: a LF starting the next one is the rest of that CRLF.
    after_cr: bool = False

    def feed_text(self, text: str) -> list[Event]:
        """The events that ``text``, the stream's next piece, completes. A line may end with
        CR, LF or CRLF (WHATWG), also split across pieces."""
        if self.after_cr and text.startswith("\n"):
            text = text[1:]
        if text:
            self.after_cr = text.endswith("\r")
        lines = _LINE_END.split(self.pending + text)
        self.pending = lines.pop()
        self._bound(len(self.pending))
        events = []
        for line in lines:
            self._bound(len(line))
            event = self.feed(line)
            if event is not None:
                events.append(event)
        return events

    def _bound(self, more: int) -> None:
        if self.size + more > MAX_EVENT_CHARS:
            raise ProtocolError(
                f"stream: an event longer than {MAX_EVENT_CHARS} characters; not an opsjobs stream"
            )

    def feed(self, line: str) -> Event | None:
        if not line:
            self.size = 0
            return self._dispatch()
        self.size += len(line)
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
