"""The audit log's rows as plain data, and what a row may hold (docs/security.md, "Audit log").

A row says who did what to which thing, from where, and how it went. Its ``detail`` is a
small JSON object that is cleaned here, whoever built it: every key that names a secret
(password, token, secret, session, cookie, CSRF, authorization…) is dropped at any depth,
texts are cut, lists and objects are shortened and the whole is kept under DETAIL_BYTES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from .clock import now_ms
from .ids import new_id

OK, REFUSED, FAILED = "ok", "refused", "failed"
OUTCOMES = (OK, REFUSED, FAILED)

# Bounds of what one row holds: its detail as JSON, any one text in it, a list's items, an
# object's keys, and the texts of the columns (a login tried may be as long as a header).
DETAIL_BYTES = 2048
TEXT_CHARS = 200
ITEMS = 20
DEPTH = 4
COLUMN_CHARS = 255
TYPE_CHARS = 32

# Keys that hold a credential, whatever their spelling: never kept, at any depth.
_SECRET_KEY = re.compile(
    r"(?i)pass(word|wd)?|secret|token|auth|session|^sid$|cookie|csrf|credential|api[-_]?key"
    r"|private[-_]?key"
)


def is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= TEXT_CHARS else value[:TEXT_CHARS] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= DEPTH:
        return "…"
    if isinstance(value, dict):
        kept = [(str(k), v) for k, v in value.items() if not is_secret_key(str(k))]
        return {k[:TEXT_CHARS]: _clean(v, depth + 1) for k, v in kept[:ITEMS]}
    if isinstance(value, list | tuple | set | frozenset):
        items = list(value)
        cleaned = [_clean(v, depth + 1) for v in items[:ITEMS]]
        if len(items) > ITEMS:
            cleaned.append(f"… {len(items) - ITEMS} more")
        return cleaned
    return _clean(str(value), depth)


def clean_detail(detail: dict[str, Any] | None) -> str | None:
    """``detail`` without secrets and within its bounds, as JSON text (None for none)."""
    if not detail:
        return None
    cleaned = _clean(detail, 0)
    text = orjson.dumps(cleaned)
    # Still too large (many long values): keep the first keys that fit, and say so.
    keys = list(cleaned)
    while len(text) > DETAIL_BYTES and keys:
        del cleaned[keys.pop()]
        text = orjson.dumps({**cleaned, "truncated": True})
    return text.decode()


def bounded(text: str | None, chars: int = COLUMN_CHARS) -> str | None:
    """A column's text within ``chars``, without NUL (which PostgreSQL's text cannot hold:
    a login tried in a Basic header may carry one)."""
    return None if text is None else text[:chars].replace("\0", "\ufffd")


@dataclass
class AuditEntry:
    """One row of the audit log, before it is written."""

    kind: str
    outcome: str = OK
    status: int | None = None
    actor_id: str | None = None
    actor_login: str | None = None
    address: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    detail: dict[str, Any] | None = None
    request_id: str | None = None
    at: int = field(default_factory=now_ms)
    id: str = field(default_factory=new_id)

    def row(self) -> dict[str, Any]:
        """The row as the table holds it: texts bounded, the detail cleaned."""
        return {
            "id": self.id,
            "at": self.at,
            "kind": bounded(self.kind),
            "outcome": self.outcome,
            "status": self.status,
            "actor_id": bounded(self.actor_id),
            "actor_login": bounded(self.actor_login),
            "address": bounded(self.address),
            "target_type": bounded(self.target_type, TYPE_CHARS),
            "target_id": bounded(self.target_id),
            "detail": clean_detail(self.detail),
            "request_id": bounded(self.request_id),
        }
