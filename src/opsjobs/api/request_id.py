"""A request's ID: the client's X-Request-ID when it is sane, else a fresh one.

The ID goes into every log line of the request (structlog's context, see observe.py), into
the response's X-Request-ID header, and into the spec of a job the request creates, so that
the runner's lines about that job carry it too. A client's value is bounded and of a safe
charset — it ends up in log lines and headers — and is replaced, never trusted, otherwise.
"""

from __future__ import annotations

import itertools
import os
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
    return _fresh()


# A fresh ID: 16 random hex digits for this process, then 16 of a counter. As unique as a
# random 128-bit ID for this purpose (no two processes share the prefix, one process never
# repeats the counter) at a fraction of the cost of asking the kernel for randomness.
_PREFIX = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def _new_prefix() -> None:
    # A forked worker (serve --workers N) would repeat its parent's IDs: a prefix of its own.
    global _PREFIX, _COUNTER
    _PREFIX, _COUNTER = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_new_prefix)


def _fresh() -> str:
    return f"{_PREFIX}{next(_COUNTER):016x}"
