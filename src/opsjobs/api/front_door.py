"""The front door: the hottest reads answered before the app's middleware and router.

A request through the whole app passes Starlette's error middleware, four middlewares of
ours (request ID and series, URL check, body limit, audit), FastAPI's exit-stack middleware,
the exception middleware and the router's walk over a hundred routes before its endpoint
runs: measured in process, about 16 µs of CPU for ``GET /node/api/jobs/:id``, more than the
endpoint's own 12 µs (docs/decisions.md, "The front door"). The front door matches the hot
GET routes first and runs, for them, exactly what those layers would have done and nothing
more:

- the request ID and the request series (api/observe.py's, with the same route template);
- the read counted for the changing requests' turns (api/admission.py), which are paced
  while reads come in;
- the endpoint, with the path parameters the router would have given it;
- a failure answered by the handler the app registered for it (api/errors.py), looked up
  as Starlette's exception middleware looks it up; an error no handler takes is answered
  by the app's ``Exception`` handler and raised again after, as Starlette's error
  middleware does, so that the server logs it.

Everything the skipped layers could refuse or record is sent through the whole app instead:
a request with a body (the body limit), a URL the URL check would refuse, a changing method
(the audit trail), a HEAD, a path under a ``root_path``. So no answer differs by the door it
came through; the API tests run against both (tests/api: the ``door`` fixture).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ..logs import REQUEST_ID
from .admission import WriteTurns
from .metrics import HttpMetrics
from .observe import stamped
from .request_id import request_id
from .urls import refusal

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]

_PARAMETER = re.compile(r"{(\w+)}")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")


@dataclass(frozen=True)
class Entry:
    """One route served at the door: its template, as the request series names it."""

    template: str
    pattern: re.Pattern[str]
    endpoint: Endpoint


def entry(template: str, endpoint: Endpoint) -> Entry:
    """A route the door serves; path parameters match as Starlette's ``str`` convertor does
    (anything up to the next ``/``)."""
    parts = _PARAMETER.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        f"(?P<{part}>[^/]+)" if odd else re.escape(part) for odd, part in _alternating(parts)
    )
    return Entry(template, re.compile(regex), endpoint)


def _alternating(parts: list[str]):
    return ((index % 2 == 1, part) for index, part in enumerate(parts))


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name in _BODY_HEADERS and value != b"0":
            return True
    return False


class FrontDoor:
    def __init__(
        self,
        entries: list[Entry],
        metrics: HttpMetrics,
        handlers: Mapping[Any, Handler],
        turns: WriteTurns | None = None,
    ) -> None:
        self.entries = entries
        self.turns = turns if turns is not None and turns.limited else None
        self.metrics = metrics
        # As Starlette splits them: the error middleware takes ``Exception`` (and 500), the
        # exception middleware every other class.
        self.handlers = {k: h for k, h in handlers.items() if k not in (500, Exception)}
        self.last_resort = handlers.get(Exception) or handlers.get(500)

    def match(self, scope: Scope) -> tuple[Entry, dict[str, str]] | None:
        """The route and its path parameters, if the door serves this request whole."""
        if scope["method"] != "GET" or scope.get("root_path"):
            return None
        path = scope["path"]
        for candidate in self.entries:
            found = candidate.pattern.fullmatch(path)
            if found is not None:
                if _has_body(scope["headers"]) or refusal(scope) is not None:
                    return None
                return candidate, found.groupdict()
        return None

    async def serve(
        self, found: tuple[Entry, dict[str, str]], scope: Scope, receive: Receive, send: Send
    ) -> None:
        if self.turns is None:
            await self._serve(found, scope, receive, send)
        else:
            await self.turns.read(
                lambda s, r, se: self._serve(found, s, r, se), scope, receive, send
            )

    async def _serve(
        self, found: tuple[Entry, dict[str, str]], scope: Scope, receive: Receive, send: Send
    ) -> None:
        served, params = found
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        answer = [500, 0.0]  # status, when it began
        token = REQUEST_ID.set(rid)
        try:
            scope["path_params"] = params
            scope["endpoint"] = served.endpoint
            request = Request(scope, receive, send)
            await self._answer(served.endpoint, request, stamped(send, rid, answer))
        finally:
            REQUEST_ID.reset(token)
            ended = answer[1] or time.perf_counter()
            self.metrics.observe("GET", served.template, answer[0], ended - started)

    async def _answer(self, endpoint: Endpoint, request: Request, send: Send) -> None:
        scope, receive = request.scope, request.receive
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is not None:
                try:
                    response = await handler(request, exc)
                except Exception as again:  # a handler that declines (api/errors.py)
                    await self._last_resort(request, again, send)
                    raise
            else:
                await self._last_resort(request, exc, send)
                raise
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None

    async def _last_resort(self, request: Request, exc: Exception, send: Send) -> None:
        if self.last_resort is not None:
            response = await self.last_resort(request, exc)
            await response(request.scope, request.receive, send)
