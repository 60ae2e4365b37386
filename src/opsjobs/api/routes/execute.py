"""Executing an operation of an object or a link (docs/api.md §10): the run recorded as a job.

Execute requests come as fast as jobs can run, so the routes are served like GET /jobs/:id:
plain routes matched ahead of FastAPI's, declared once for the OpenAPI document too
(fast.py), and answered at the front door ahead of the middleware (front_door.py). The caller is checked by ``_caller``; the run itself is service/execute.py's, as
for ``opsjobs exec``.

Order of refusals: credentials (401), an entity out of sight (404), the permission (403),
then the request itself: its body (400) and its Idempotency-Key (see execute_operation).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from pydantic import TypeAdapter
from starlette.responses import Response

from ...domain.operations import run_arguments
from ...domain.users import Principal
from ...service.execute import KEY_NAME, Requester, RunRequest, execute_operation
from ...store.operations import execution_target
from ..bodies import CheckedRoute, json_body
from ..context import Context, context
from ..fast import Endpoint, FastRoutes
from ..guards import require_any, visible_entity
from ..kinds import for_kind
from ..models import error_responses
from ..responses import json_response

PERMISSION = "execute-operations"
_PLURAL = {"object": "objects", "link": "links"}
_ARGS = TypeAdapter(dict[str, Any] | None)

Args = Annotated[
    dict[str, Any] | None, Body(description="arguments, for {{args.<name>}} in the operation")
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=KEY_NAME,
        description="ext: a retried request with the same key answers the first job's ID",
    ),
]


def _path(kind: str) -> str:
    return f"/{_PLURAL[kind]}/{{{kind}_id}}/operations/{{operation_id}}/execute"


async def _caller(ctx: Context, request: Request, kind: str, owner_id: str) -> Principal:
    """The caller, if it may see the entity and execute its operations."""
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, kind, owner_id)
    require_any(principal, PERMISSION)
    return principal


async def _execute(
    ctx: Context,
    principal: Principal,
    kind: str,
    owner_id: str,
    operation_id: str,
    args: dict[str, Any] | None,
    key: str | None,
) -> Response:
    """Record the run (or find the job the key names): its ID, as JSON."""
    run = RunRequest(
        kind, owner_id, operation_id, Requester(principal.id, principal.login), args or {}, key
    )
    job_id = await execute_operation(
        ctx.store, run, default_timeout=ctx.settings.default_timeout_seconds
    )
    return json_response(job_id)


# -- the routes: served plain, declared once for the document (fast.py) --------------------

router = APIRouter(route_class=CheckedRoute)
hot = FastRoutes(router)


def _endpoint(kind: str) -> Endpoint:
    async def handle(request: Request) -> Response:
        ctx = context(request)
        owner_id = request.path_params[f"{kind}_id"]
        principal = await _caller(ctx, request, kind, owner_id)
        args = await json_body(request, _ARGS, "args")
        key = request.headers.get(KEY_NAME)
        operation_id = request.path_params["operation_id"]
        return await _execute(ctx, principal, kind, owner_id, operation_id, args, key)

    return handle


def _object_parameters(
    object_id: str, operation_id: str, args: Args = None, idempotency_key: IdempotencyKey = None
) -> None: ...


def _link_parameters(
    link_id: str, operation_id: str, args: Args = None, idempotency_key: IdempotencyKey = None
) -> None: ...


for _kind, _parameters in (("object", _object_parameters), ("link", _link_parameters)):
    hot.add(
        "POST",
        _path(_kind),
        _endpoint(_kind),
        parameters=_parameters,
        name=f"execute_{_kind}_operation",
        tags=[_PLURAL[_kind]],
        summary=f"Run an operation of a {_kind}: answers the queued job's ID",
        response_model=None,
        responses={
            200: {"model": str, "description": "The new job's ID, a JSON string"},
            **error_responses(400, 401, 403, 404, 409, 413),
        },
    )


# -- what a run asks for (docs/api.md §10): the form of a run, before running ------------------


async def run_arguments_of(
    kind: str, owner_id: str, operation_id: str, request: Request
) -> Response:
    """The arguments a run of the operation takes, for any caller who may run it: a caller
    without manage-operations sees no parameters (§9), yet needs these names to run it."""
    ctx = context(request)
    await _caller(ctx, request, kind, owner_id)
    target = await execution_target(ctx.store, kind, owner_id, operation_id)
    return json_response(run_arguments(target.operation, target.script_text))


for _kind in ("object", "link"):
    router.add_api_route(
        f"/{_PLURAL[_kind]}/{{{_kind}_id}}/operations/{{operation_id}}/arguments",
        for_kind(run_arguments_of, _kind),
        methods=["GET"],
        tags=[_PLURAL[_kind]],
        name=f"{_kind}_operation_arguments",
        summary=f"The arguments a run of an operation of a {_kind} takes",
        response_model=None,
        responses={200: {"model": list[dict[str, Any]]}, **error_responses(401, 403, 404)},
    )
