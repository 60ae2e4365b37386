"""One request to the API as plain data, built once for the sync and the async client alike.

Each method of the API (routes.py) makes a :class:`Call`; ``Client`` sends it with
``httpx.Client`` and ``AsyncClient`` with ``httpx.AsyncClient``, and both read the answer with
:func:`finish`. So a route is written once, whatever the caller's style.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .errors import ClientError, ProtocolError, error_from

API_PREFIX = "/node/api"
NO_BODY = object()
STATUSES = ("queued", "running", "succeeded", "failed", "timeout", "cancelled", "lost")
ORDERS = ("asc", "desc")


def json_answer(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise ProtocolError(
            f"{response.request.method} {response.request.url.path}: "
            f"the answer ({response.status_code}) is not JSON"
        ) from None


def no_answer(response: httpx.Response) -> None:
    return None


@dataclass(frozen=True)
class Call:
    """A request under /node/api, and how to read a successful answer."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    body: Any = NO_BODY
    headers: Mapping[str, str] = field(default_factory=dict)
    decode: Callable[[httpx.Response], Any] = json_answer

    def request_options(self, cookies: httpx.Cookies | None = None) -> dict[str, Any]:
        """Keyword arguments for httpx's ``request``/``stream``; with the client's
        ``cookies``, a change made in a session carries the session's CSRF token."""
        options: dict[str, Any] = {
            "params": {k: v for k, v in self.params.items() if v is not None}
        }
        if self.body is not NO_BODY:
            options["json"] = self.body
        headers = dict(self.headers)
        csrf = cookies.get(CSRF_COOKIE) if cookies is not None else None
        if csrf and self.method not in _READS:
            # The server refuses a cookie-authenticated change without it (docs/api.md §3).
            headers[CSRF_HEADER] = csrf
        if headers:
            options["headers"] = headers
        return options


# The session's CSRF token: the cookie the server sets at log-in, echoed in a header.
CSRF_COOKIE, CSRF_HEADER = "csrf", "X-CSRF-Token"
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


def finish(call: Call, response: httpx.Response) -> Any:
    """The decoded answer, or the refusal as its exception (errors.py)."""
    if 200 <= response.status_code < 300:
        return call.decode(response)
    raise refusal(response)


def refusal(response: httpx.Response) -> ClientError:
    """The exception for an answer that is not the one expected (its body read)."""
    if 200 <= response.status_code < 300:
        return ProtocolError(f"unexpected answer {response.status_code}")
    return error_from(
        response.status_code, response.headers, response.content, response.reason_phrase
    )


def segment(value: str) -> str:
    """An ID as one path segment: a value like ``a/b`` or ``..`` must never name another
    route, so it is refused or percent-encoded whole."""
    if not isinstance(value, str) or value in ("", ".", ".."):
        raise ValueError(f"not an ID: {value!r}")
    return quote(value, safe="")


# The entity kinds whose operations and history the API serves, to their path (§6, §9, §10).
KIND_PATHS = {"object": "objects", "link": "links", "class": "classes"}


def kind_path(kind: str, entity_id: str) -> str:
    if kind not in KIND_PATHS:
        raise ValueError(f"kind must be one of {', '.join(KIND_PATHS)}, not {kind!r}")
    return f"/{KIND_PATHS[kind]}/{segment(entity_id)}"


@dataclass(frozen=True)
class JobQuery:
    """Filters and paging of a job history list (docs/api.md §6). Times are ms."""

    start: int | None = None
    end: int | None = None
    status: str | None = None
    operation_id: str | None = None
    user_id: str | None = None
    order: str | None = None
    limit: int | None = None
    skip: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.order is not None and self.order not in ORDERS:
            raise ValueError(f"order must be asc or desc, not {self.order!r}")

    def fields(self) -> dict[str, Any]:
        """The parameters as the API names them, those given only."""
        named = {
            "from": self.start,
            "to": self.end,
            "status": self.status,
            "operation_id": self.operation_id,
            "user_id": self.user_id,
            "order": self.order,
            "limit": self.limit,
            "skip": self.skip,
        }
        return {name: value for name, value in named.items() if value is not None}
