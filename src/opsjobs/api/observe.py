"""The request middleware: a request ID for every request, and the request series.

Raw ASGI, not Starlette's BaseHTTPMiddleware, which would cost every request (the hot
GET /node/api/jobs/:id included) a task and a stream; what this adds is a look for one
header, a context variable and two metric updates (measured with
``python -m bench.middleware``, see docs/deployment.md, "Monitoring").

The route's template is read from the scope after the app has answered: the router writes
the matched endpoint into the request's scope (and nothing between copies it), and the
endpoint's template is looked up in a table made once from the app's routes (FastAPI's
``scope["route"]`` of an included router lacks the router's prefix).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import REQUEST_ID
from .metrics import HttpMetrics
from .request_id import HEADER, request_id


def stamped(send: Send, rid: str, answer: list) -> Send:
    """``send``, with the request ID header added to the answer's start, whose status and
    time it writes into ``answer`` (``[status, perf_counter]``)."""
    header = (HEADER, rid.encode())

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer[0], answer[1] = message["status"], time.perf_counter()
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return send_with_id


class RequestObserver:
    def __init__(
        self, app: ASGIApp, metrics: HttpMetrics, routes: Callable[[], Iterable[Any]]
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.templates: dict[Any, str] | None = None  # made on the first request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope["headers"])
        answer = [500, 0.0]  # status, when it began: an exception reaching the server is a 500
        token = REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, stamped(send, rid, answer))
        finally:
            REQUEST_ID.reset(token)
            ended = answer[1] or time.perf_counter()
            self.metrics.observe(scope["method"], self._template(scope), answer[0], ended - started)

    def _template(self, scope: Scope) -> str | None:
        if self.templates is None:
            self.templates = templates(self.routes())
        return self.templates.get(scope.get("endpoint"))


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
