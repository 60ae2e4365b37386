"""Executing an operation of an object or a link (docs/api.md §10): the run recorded as a job.

Execute requests come as fast as jobs can run, so the route is served like GET /jobs/:id:
a plain Starlette route matched ahead of FastAPI's (``hot_routes``), with the FastAPI
declaration kept for the OpenAPI document. Both answer through ``execute``.

Order of refusals: credentials (401), an entity out of sight (404), the permission (403),
then the request itself: its body (400) and its Idempotency-Key.
"""

# No ``from __future__ import annotations``: the handlers' path parameters are typed with
# aliases made per kind inside router(), which FastAPI must see as objects, not strings.

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Request
from pydantic import TypeAdapter
from starlette.responses import Response
from starlette.routing import Route

from ...domain.errors import BadRequest, Conflict
from ...domain.users import Principal
from ...store import operations as ops
from ..bodies import CheckedRoute, json_body
from ..context import Context
from ..guards import require_any, visible_entity
from ..models import error_responses
from ..responses import json_response

PERMISSION = "execute-operations"
_PLURAL = {"object": "objects", "link": "links"}
_KEY_MAX = 255  # the width of jobs.idempotency_key
_KEY_HEADER = "Idempotency-Key"
_ARGS = TypeAdapter(dict[str, Any] | None)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=_KEY_HEADER,
        description="ext: a retried request with the same key answers the first job's ID",
    ),
]


def _path(kind: str) -> str:
    return f"/{_PLURAL[kind]}/{{{kind}_id}}/operations/{{operation_id}}/execute"


def _checked_key(value: str | None) -> str | None:
    if value is not None and not 0 < len(value) <= _KEY_MAX:
        raise BadRequest(f"{_KEY_HEADER}: must be 1 to {_KEY_MAX} characters")
    return value


def _answer_job(job: ops.JobRef, owner_id: str, operation_id: str) -> Response:
    if job.owner_id != owner_id or job.operation_id != operation_id:
        raise Conflict(f"{_KEY_HEADER}: already used for another operation or entity")
    return json_response(job.id)


async def execute(
    ctx: Context,
    principal: Principal,
    kind: str,
    owner_id: str,
    operation_id: str,
    args: dict[str, Any] | None,
    key: str | None,
) -> Response:
    """Record the run as a queued job (or find the one the key names); its ID, as JSON."""
    key = _checked_key(key)
    if key is not None:
        earlier = await ops.job_for_key(ctx.store, principal.id, key)
        if earlier is not None:
            return _answer_job(earlier, owner_id, operation_id)
    job = await ops.queue_run(
        ctx.store,
        kind=kind,
        owner_id=owner_id,
        operation_id=operation_id,
        requester=ops.Requester(principal.id, principal.login),
        args=args or {},
        default_timeout=ctx.settings.default_timeout_seconds,
        idempotency_key=key,
    )
    return _answer_job(job, owner_id, operation_id)


def hot_routes(ctx: Context, prefix: str) -> list[Route]:
    """The execute routes as plain Starlette routes, for app.py to match before FastAPI's."""

    def route(kind: str) -> Route:
        async def handle(request: Request) -> Response:
            principal = await ctx.auth.authenticate(request)
            owner_id = request.path_params[f"{kind}_id"]
            await visible_entity(ctx.store, principal, kind, owner_id)
            require_any(principal, PERMISSION)
            args = await json_body(request, _ARGS, "args")
            key = request.headers.get(_KEY_HEADER)
            operation_id = request.path_params["operation_id"]
            return await execute(ctx, principal, kind, owner_id, operation_id, args, key)

        return Route(prefix + _path(kind), handle, methods=["POST"], include_in_schema=False)

    return [route("object"), route("link")]


def router(ctx: Context) -> APIRouter:
    """The declarations of the execute routes, for the OpenAPI document (see hot_routes)."""
    api = APIRouter(route_class=CheckedRoute)

    def declare(kind: str) -> None:
        OwnerId = Annotated[str, Path(alias=f"{kind}_id")]

        @api.post(
            _path(kind),
            tags=[_PLURAL[kind]],
            name=f"execute_{kind}_operation",
            summary=f"Run an operation of a {kind}: answers the queued job's ID",
            response_model=None,
            responses={
                200: {"model": str, "description": "The new job's ID, a JSON string"},
                **error_responses(400, 401, 403, 404, 409, 413),
            },
        )
        async def execute_operation(
            owner_id: OwnerId,
            operation_id: str,
            request: Request,
            args: Annotated[
                dict[str, Any] | None,
                Body(description="arguments, for {{args.<name>}} in the operation"),
            ] = None,
            idempotency_key: IdempotencyKey = None,
        ) -> Response:
            principal = await ctx.auth.authenticate(request)
            await visible_entity(ctx.store, principal, kind, owner_id)
            require_any(principal, PERMISSION)
            return await execute(
                ctx, principal, kind, owner_id, operation_id, args, idempotency_key
            )

    for kind in _PLURAL:
        declare(kind)
    return api
