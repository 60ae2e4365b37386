"""The front door: the hottest requests answered before the app's middleware and router.

A request through the whole app passes Starlette's error middleware, four middlewares of
ours (request ID and series, URL check, body limit, audit), FastAPI's exit-stack middleware,
the exception middleware and the router's walk over a hundred routes before its endpoint
runs: measured in process, about 16 µs of CPU for ``GET /node/api/jobs/:id``, more than the
endpoint's own 12 µs (docs/decisions.md, "The front door"). The front door matches the hot
routes first (``GET /jobs/:id`` and the two execute POSTs) and runs, for them, exactly what
those layers would have done and nothing more:

- the request ID and the request series (api/observe.py's, with the same route template;
  none for an answer given before the route was reached, as the router never was);
- the request counted as a read for the changing requests' turns (api/admission.py), which
  are paced while reads come in (an execute takes no turn: it counts as a read there too);
- for a POST, the body read whole within the size and time limits by api/limits.py's own
  ``BodyLimit``, and the row of the audit log by api/audited.py's own ``AuditTrail``, in the
  order the app runs them;
- the endpoint, with the path parameters the router would have given it;
- a failure answered by the handler the app registered for it (api/errors.py), looked up
  as Starlette's exception middleware looks it up; an error no handler takes is answered
  by the app's ``Exception`` handler outside all of that (no request ID on that answer), and
  raised again after, as Starlette's error middleware does, so that the server logs it.

Everything else the skipped layers could refuse is sent through the whole app instead: a GET
with a body, a POST whose declared body is over the limit or chunked, a URL the URL check
would refuse, a HEAD or any other method, a path under a ``root_path``. So no answer differs by the door it
came through; the API tests run against both (tests/api: the ``door`` fixture).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..logs import REQUEST_ID
from .admission import WriteTurns, takes_turn
from .audited import AuditTrail
from .limits import BodyLimit
from .metrics import HttpMetrics
from .observe import stamped
from .request_id import request_id
from .urls import refusal

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]

_PARAMETER = re.compile(r"{(\w+)}")
_BODY_HEADERS = (b"content-length", b"transfer-encoding")
# A declared length with more digits is handed to the app (and int() refuses past 4300).
_LENGTH_DIGITS = 12


@dataclass(frozen=True)
class Entry:
    """One route served at the door: its template, as the request series names it."""

    template: str
    pattern: re.Pattern[str]
    endpoint: Endpoint
    method: str = "GET"


def entry(template: str, endpoint: Endpoint, method: str = "GET") -> Entry:
    """A route the door serves; path parameters match as Starlette's ``str`` convertor does
    (anything up to the next ``/``)."""
    parts = _PARAMETER.split(template)  # literal, name, literal, name, ..., literal
    regex = "".join(
        f"(?P<{part}>[^/]+)" if odd else re.escape(part) for odd, part in _alternating(parts)
    )
    return Entry(template, re.compile(regex), endpoint, method)


def _alternating(parts: list[str]):
    return ((index % 2 == 1, part) for index, part in enumerate(parts))


def _has_body(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name in _BODY_HEADERS and value != b"0":
            return True
    return False


def _declared_within(headers: list[tuple[bytes, bytes]], max_bytes: int) -> bool:
    """No body, or one of a declared length within ``max_bytes``: chunked bodies and those
    declared too large (refused by the body limit before the router) go to the app."""
    for name, value in headers:
        if name == b"transfer-encoding":
            return False
        if name == b"content-length" and not (
            value.isdigit() and len(value) <= _LENGTH_DIGITS and int(value) <= max_bytes
        ):
            return False
    return True


class FrontDoor:
    def __init__(
        self,
        entries: list[Entry],
        metrics: HttpMetrics,
        handlers: Mapping[Any, Handler],
        turns: WriteTurns | None = None,
        *,
        max_body_bytes: int = 0,
        body_timeout_seconds: float = 30.0,
        routes: Callable[[], Iterable[Any]] = tuple,
    ) -> None:
        self.entries = entries
        self.methods = frozenset(e.method for e in entries)
        self.turns = turns if turns is not None and turns.limited else None
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # As Starlette splits them: the error middleware takes ``Exception`` (and 500), the
        # exception middleware every other class.
        self.handlers = {k: h for k, h in handlers.items() if k not in (500, Exception)}
        self.last_resort = handlers.get(Exception) or handlers.get(500)
        # What runs inside the request's ID and series, in the app's order: for a POST the
        # body limit, the read counted for the turns, the audit trail (api/app.py).
        self._inner: dict[Entry, ASGIApp] = {}
        for served in entries:
            reached = self._reached(served)
            if served.method != "GET":
                audited = AuditTrail(reached, routes=routes)
                reached = BodyLimit(
                    self._admitted(served, audited), max_body_bytes, body_timeout_seconds
                )
            self._inner[served] = reached

    def match(self, scope: Scope) -> tuple[Entry, dict[str, str]] | None:
        """The route and its path parameters, if the door serves this request whole."""
        method = scope["method"]
        if method not in self.methods or scope.get("root_path"):
            return None
        path = scope["path"]
        for candidate in self.entries:
            if candidate.method != method:
                continue
            found = candidate.pattern.fullmatch(path)
            if found is not None:
                if not self._body_taken(method, scope["headers"]) or refusal(scope) is not None:
                    return None
                return candidate, found.groupdict()
        return None

    def _body_taken(self, method: str, headers: list[tuple[bytes, bytes]]) -> bool:
        if method == "GET":
            return not _has_body(headers)
        return _declared_within(headers, self.max_body_bytes)

    async def serve(
        self, found: tuple[Entry, dict[str, str]], scope: Scope, receive: Receive, send: Send
    ) -> None:
        answer = [500, 0.0]  # status, when it began (0: no answer began)
        try:
            if self.turns is None or found[0].method != "GET":  # a POST: once its body is in
                await self._serve(found, scope, receive, send, answer)
            else:
                await self.turns.read(
                    lambda s, r, se: self._serve(found, s, r, se, answer), scope, receive, send
                )
        except Exception as exc:
            await self._last_resort(scope, receive, send, exc, started=answer[1] != 0.0)
            raise

    async def _serve(
        self,
        found: tuple[Entry, dict[str, str]],
        scope: Scope,
        receive: Receive,
        send: Send,
        answer: list,
    ) -> None:
        served, params = found
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        token = REQUEST_ID.set(rid)
        try:
            scope["path_params"] = params
            await self._inner[served](scope, receive, stamped(send, rid, answer))
        finally:
            REQUEST_ID.reset(token)
            ended = answer[1] or time.perf_counter()
            # No template for an answer given before the route was reached (the body limit's):
            # the router never ran for it in the app either.
            reached = scope.get("endpoint") is served.endpoint
            template = served.template if reached else None
            self.metrics.observe(served.method, template, answer[0], ended - started)

    def _reached(self, served: Entry) -> ASGIApp:
        """The route, as the router reaches it: the endpoint in the scope, then its answer."""

        async def reached(scope: Scope, receive: Receive, send: Send) -> None:
            scope["endpoint"] = served.endpoint
            request = Request(scope, receive, send)
            await self._answer(served.endpoint, request, send)

        return reached

    def _admitted(self, served: Entry, app: ASGIApp) -> ASGIApp:
        """``app`` under api/admission.py's rule for the route: a turn if it takes one, else
        counted as a read (an execute takes none)."""
        turns = self.turns
        if turns is None:
            return app
        step = turns.run if takes_turn(served.method, served.template) else turns.read

        async def admitted(scope: Scope, receive: Receive, send: Send) -> None:
            await step(app, scope, receive, send)

        return admitted

    async def _answer(self, endpoint: Endpoint, request: Request, send: Send) -> None:
        """As Starlette's exception middleware: a handler registered for the error answers it;
        an error no handler takes (or a handler raises) goes on to the last resort."""
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(request.scope, request.receive, send)

    def _handler(self, exc: Exception) -> Handler | None:
        for kind in type(exc).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None

    async def _last_resort(
        self, scope: Scope, receive: Receive, send: Send, exc: Exception, started: bool
    ) -> None:
        """As Starlette's error middleware, outside everything else (the request ID and the
        series too): the app's ``Exception`` handler answers, unless an answer began."""
        if self.last_resort is not None:
            response = await self.last_resort(Request(scope), exc)
            if not started:
                await response(scope, receive, send)
