"""The request middleware: a request ID for every request, and the request series.

Raw ASGI, not Starlette's BaseHTTPMiddleware, which would cost every request (the hot
GET /node/api/jobs/:id included) a task and a stream; what this adds is a regular
expression match on one header, a context variable and two metric updates (measured with
``python -m bench.middleware``, see docs/deployment.md, "Monitoring").

Two parts, because the route is known only inside: :class:`RequestObserver` sits outermost
(every response gets its X-Request-ID, refusals of the URL and the body included) and
:class:`RouteSeen` innermost, where the router has written the matched endpoint into the
scope (BodyLimit hands the app a copy of the scope, so the outer one never sees it). The
endpoint's template is looked up in a table made once from the app's routes: FastAPI's
``scope["route"]`` of an included router lacks the router's prefix.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, reset_contextvars

from .metrics import HttpMetrics
from .request_id import HEADER, request_id

_SEEN = "opsjobs.seen"


class _Seen:
    __slots__ = ("route", "status", "answered")

    def __init__(self) -> None:
        self.route: str | None = None
        self.status = 500  # an exception that reaches the server is answered 500
        self.answered = 0.0


class RequestObserver:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        header = (HEADER, rid.encode())
        seen = _Seen()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                seen.answered = time.perf_counter()
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        tokens = bind_contextvars(request_id=rid)
        try:
            await self.app({**scope, _SEEN: seen}, receive, send_with_id)
        finally:
            reset_contextvars(**tokens)
            ended = seen.answered or time.perf_counter()
            self.metrics.observe(scope["method"], seen.route, seen.status, ended - started)


def _flat(routes: Iterable[Any]) -> Iterable[Any]:
    try:  # FastAPI >= 0.120 keeps included routers as nodes of a tree of routes
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return routes
    return iter_route_contexts(routes)


def templates(routes: Iterable[Any]) -> dict[Any, str]:
    """Endpoint → the path template of its route (the first, should two share one)."""
    table: dict[Any, str] = {}
    for route in _flat(routes):
        endpoint, path = getattr(route, "endpoint", None), getattr(route, "path", None)
        if endpoint is not None and isinstance(path, str):
            table.setdefault(endpoint, path)
    return table


class RouteSeen:
    """Innermost: notes the template of the route that answered."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Iterable[Any]]) -> None:
        self.app = app
        self.routes = routes
        self.templates: dict[Any, str] | None = None  # made on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            seen = scope.get(_SEEN)
            if seen is not None:
                if self.templates is None:
                    self.templates = templates(self.routes())
                seen.route = self.templates.get(scope.get("endpoint"))
