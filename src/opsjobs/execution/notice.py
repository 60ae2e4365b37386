"""The words of a trigger's message: its subject and text, from the templates of the
settings (``notify_subject``, ``notify_template``) and the facts read when it is sent.

The templates are ``string.Template`` texts whose fields are config.NOTIFY_FIELDS, checked
when the settings are read. Every value is made one line (line breaks and other control
characters become spaces) and bounded, so an entity's name cannot add a line to the text or
a header to an e-mail; the subject as a whole is one line too.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import UTC, datetime

from ..config import Settings
from ..domain.kinds import EntityKind
from ..domain.states import state_name
from ..store.outbox import ClaimedDelivery, Facts

VALUE_MAX = 500
SUBJECT_MAX = 250
TEXT_MAX = 16 * 1024
GONE = "(deleted)"

# Every control character (C0, DEL, C1) and the Unicode line and paragraph separators.
_BREAKS = {c: " " for c in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]}


def one_line(text: str, limit: int = VALUE_MAX) -> str:
    flat = text.translate(_BREAKS)
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def iso_time(ms: int) -> str:
    """``2026-12-04T21:05:00.123Z``: ISO 8601, UTC, to the millisecond."""
    moment = datetime.fromtimestamp(ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"


def fields(delivery: ClaimedDelivery, facts: Facts) -> dict[str, str]:
    """The value of each template field (config.NOTIFY_FIELDS, documented in docs/api.md)."""
    at = facts.changed_at if facts.changed_at is not None else delivery.fired_at
    kind = EntityKind(delivery.owner_type).word if delivery.owner_type in (1, 2) else "entity"
    values = {
        "entity_kind": kind,
        "entity_id": delivery.owner_id,
        "entity_name": GONE if facts.entity_name is None else facts.entity_name,
        "state": state_name(facts.state_id),
        "state_id": "" if facts.state_id is None else str(facts.state_id),
        "previous_state": state_name(facts.prev_state_id),
        "previous_state_id": "" if facts.prev_state_id is None else str(facts.prev_state_id),
        "time": iso_time(at),
        "time_ms": str(at),
        "trigger_type": delivery.type,
        "delivery_id": delivery.id,
    }
    return {name: one_line(value) for name, value in values.items()}


@dataclass(frozen=True, slots=True)
class Notice:
    subject: str
    text: str


def notice(settings: Settings, delivery: ClaimedDelivery, facts: Facts) -> Notice:
    values = fields(delivery, facts)
    subject = string.Template(settings.notify_subject).substitute(values)
    text = string.Template(settings.notify_template).substitute(values)
    return Notice(one_line(subject, SUBJECT_MAX), text[:TEXT_MAX].replace("\0", " "))
