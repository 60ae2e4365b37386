"""A state trigger's message (``e-mail``, ``sms``, ``voiceCall``): the life of its delivery,
what one attempt at it came to, when to try again, and who it goes to.

A delivery row (``trigger_deliveries``) is made ``pending`` by the dispatcher, taken by one
sender (``sending``, under a lease), and ends ``delivered``, ``failed`` or
``not-delivered``; an attempt that failed for a reason that may pass goes back to
``pending``, not before a later time, until the attempts run out (docs/api.md, "Trigger
actions: messages").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from .errors import BadRequest
from .triggers import validate_trigger

PENDING: Final = "pending"
SENDING: Final = "sending"
DELIVERED: Final = "delivered"
FAILED: Final = "failed"
NOT_DELIVERED: Final = "not-delivered"
FINAL: Final = frozenset({DELIVERED, FAILED, NOT_DELIVERED})
MESSAGE_TYPES: Final = frozenset({"e-mail", "sms", "voiceCall"})

DETAIL_MAX: Final = 1000
# However many attempts are allowed, one is never put off longer than this.
RETRY_MAX_MS: Final = 6 * 3_600_000


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one attempt came to: a final status and why, or (``transient``) a failure that
    may pass, worth another attempt later."""

    status: str
    detail: str = ""
    transient: bool = False

    @classmethod
    def again(cls, detail: str) -> Attempt:
        return cls(FAILED, detail, transient=True)


def bounded(detail: str, limit: int = DETAIL_MAX) -> str:
    """A detail as stored: one line's worth of text, at most ``limit`` characters."""
    flat = " ".join(detail.replace("\0", " ").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_delay_ms(first_delay_ms: int, attempts_made: int) -> int:
    """The wait after the ``attempts_made``-th attempt failed: the first delay, doubled for
    each attempt after the first (30 s, 1 min, 2 min, ...), never above RETRY_MAX_MS."""
    doublings = min(max(attempts_made - 1, 0), 32)
    return min(first_delay_ms * 2**doublings, RETRY_MAX_MS)


@dataclass(frozen=True, slots=True)
class Recipients:
    """Checked again at send time, by the rules a trigger was saved under: an address or a
    phone number holds only its own characters, so it can never add a header or a
    recipient, nor an argument to a command."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    phone: str = ""


def _addresses(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def recipients(kind: str, recipient: str | None) -> Recipients:
    """The recipients of a delivery row (``recipient``: the trigger's payload as JSON
    text); BadRequest when they are not what a trigger of ``kind`` may name."""
    try:
        payload: Any = orjson.loads(recipient or "null")
    except orjson.JSONDecodeError:
        raise BadRequest("recipient: not JSON") from None
    # The states are no part of a recipient; any valid one lets the payload be checked.
    checked = validate_trigger({"type": kind, "states": [5], "payload": payload}, "recipient")
    clean: Mapping[str, Any] = checked["payload"]
    if kind == "e-mail":
        return Recipients(to=_addresses(clean["to"]), cc=_addresses(clean.get("cc")))
    if kind in MESSAGE_TYPES:
        return Recipients(phone=clean["phone"])
    raise BadRequest(f"type: {kind} sends no message")
