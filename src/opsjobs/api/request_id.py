"""A request's ID: the client's X-Request-ID when it is sane, else a fresh one.

The ID goes into every log line of the request (structlog's context, see observe.py), into
the response's X-Request-ID header, and into the spec of a job the request creates, so that
the runner's lines about that job carry it too. A client's value is bounded and of a safe
charset — it ends up in log lines and headers — and is replaced, never trusted, otherwise.
"""

from __future__ import annotations

import re
import secrets

HEADER = b"x-request-id"
MAX_LENGTH = 64
_SAFE = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,%d}" % (MAX_LENGTH - 1))


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The request's ID, from its raw ASGI headers."""
    for name, value in headers:
        if name == HEADER:
            if _SAFE.fullmatch(value):
                return value.decode("ascii")
            break
    return secrets.token_hex(16)
