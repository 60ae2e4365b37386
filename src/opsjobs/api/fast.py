"""Hot routes: served as plain Starlette routes, declared once for the OpenAPI document too.

FastAPI's per-request machinery (parameter solving, its route wrapper) costs more than a hot
route's own work: measured in process on 1M jobs, 245-275 µs of CPU a request for
GET /jobs/:id through FastAPI, 110 µs as a plain route (docs/decisions.md, "HTTP server").
A hot route is therefore a plain ``endpoint(request) -> Response`` that app.py matches ahead
of FastAPI's routes; the same call here also declares it on the module's APIRouter, so the
OpenAPI document describes it like any other route. That declaration answers the same (it
calls the same endpoint) but is never reached for the methods the plain route serves.

A module declares its hot routes with a ``FastRoutes`` beside its router::

    router = APIRouter(route_class=CheckedRoute, tags=["jobs"])
    hot = FastRoutes(router)

    @hot.route("GET", "/jobs/{job_id}", summary="Get job by ID", response_model=None,
               responses={...})
    async def get_job(request: Request) -> Response: ...

and app.py places ``module.hot.routes(PREFIX)`` ahead of every FastAPI route. Path
parameters are documented as strings; a route whose document needs more (a body, a header,
a path parameter under an alias) passes ``parameters``, a function whose signature is what
FastAPI should document (its body is never run), e.g. for the execute routes::

    def _execute_parameters(
        owner_id: Annotated[str, Path(alias="object_id")],
        operation_id: str,
        args: Annotated[dict[str, Any] | None, Body(description=...)] = None,
        idempotency_key: IdempotencyKey = None,
    ) -> None: ...

    hot.add("POST", "/objects/{object_id}/operations/{operation_id}/execute", handle,
            parameters=_execute_parameters, name="execute_object_operation",
            tags=["objects"], summary=..., response_model=None, responses={...})

Errors leave the endpoint as exceptions, answered by the app's handlers (api/errors.py)
exactly as on a FastAPI route.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .front_door import Entry, entry

Endpoint = Callable[[Request], Awaitable[Response]]

_PATH_PARAMETER = re.compile(r"{(\w+)}")


def _path_parameters(path: str) -> list[inspect.Parameter]:
    kind = inspect.Parameter.KEYWORD_ONLY
    return [inspect.Parameter(n, kind, annotation=str) for n in _PATH_PARAMETER.findall(path)]


def _declaration(
    endpoint: Endpoint, path: str, parameters: Callable[..., Any] | None
) -> Callable[..., Awaitable[Response]]:
    """A FastAPI endpoint that documents ``parameters`` (or the path's) and calls
    ``endpoint`` with the request."""

    async def declared(**values: Any) -> Response:
        return await endpoint(values["request"])

    if parameters is None:
        documented = _path_parameters(path)
    else:
        signature = inspect.signature(parameters, eval_str=True)
        documented = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in signature.parameters.values()
            if p.name != "request"  # added below, whether the function names it or not
        ]
    request = inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
    declared.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*documented, request], return_annotation=Response
    )
    declared.__name__ = declared.__qualname__ = endpoint.__name__
    declared.__doc__ = None  # FastAPI would make the docstring the route's description
    return declared


@dataclass
class _Hot:
    method: str
    path: str
    endpoint: Endpoint


@dataclass
class FastRoutes:
    """The hot routes of one module, declared on its ``router`` for the document."""

    router: APIRouter
    _routes: list[_Hot] = field(default_factory=list)

    def add(
        self,
        method: str,
        path: str,
        endpoint: Endpoint,
        *,
        parameters: Callable[..., Any] | None = None,
        **declaration: Any,
    ) -> Endpoint:
        """Serve ``method path`` with ``endpoint`` as a plain route, and declare it on the
        router with ``declaration`` (APIRouter.add_api_route's keywords)."""
        self.router.add_api_route(
            path,
            _declaration(endpoint, path, parameters),
            methods=[method],
            **{"name": endpoint.__name__, **declaration},
        )
        self._routes.append(_Hot(method, path, endpoint))
        return endpoint

    def route(self, method: str, path: str, **declaration: Any) -> Callable[[Endpoint], Endpoint]:
        """``add`` as a decorator."""

        def register(endpoint: Endpoint) -> Endpoint:
            return self.add(method, path, endpoint, **declaration)

        return register

    def door_entries(self, prefix: str) -> list[Entry]:
        """The routes, under ``prefix``, for the front door (front_door.py): GET, and POST
        (its body limit and audit trail included)."""
        return [
            entry(prefix + h.path, h.endpoint, h.method)
            for h in self._routes
            if h.method in ("GET", "POST")
        ]

    def routes(self, prefix: str) -> list[Route]:
        """The plain routes, under ``prefix``, for app.py to match before FastAPI's."""
        plain = []
        for hot in self._routes:
            route = Route(
                prefix + hot.path, hot.endpoint, methods=[hot.method], include_in_schema=False
            )
            route.methods = {hot.method}  # Starlette adds HEAD; FastAPI routes answer it 405
            plain.append(route)
        return plain
