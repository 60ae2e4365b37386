"""Operations of objects, links and classes (docs/api.md §9).

Rights, in the order of docs/api.md §2: an entity the caller may not see is a 404 whatever the
permissions; then the action permissions (``manage-operations`` and the manage permission of
the kind). Each endpoint serves the three kinds; ``kinds.for_kind`` declares it once per kind.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.operations import shown
from ...store import operations as ops
from ..bodies import CheckedRoute, refuse_nulls
from ..context import context
from ..guards import require_all, visible_entity
from ..kinds import for_kind
from ..models import (
    OperationCreate,
    OperationModel,
    OperationSummary,
    OperationUpdate,
    error_responses,
)
from ..responses import empty_response, json_response

_MANAGE = {"object": "manage-objects", "link": "manage-links", "class": "manage-classes"}
_PLURAL = {"object": "objects", "link": "links", "class": "classes"}

OperationView = OperationModel | OperationSummary

router = APIRouter(route_class=CheckedRoute)


async def list_operations(kind: str, owner_id: str, request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, kind, owner_id)
    found = await ops.list_operations(ctx.store, kind, owner_id)
    return json_response(shown(principal.rights, found))


async def create_operation(
    kind: str, owner_id: str, body: OperationCreate, request: Request
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, kind, owner_id)
    require_all(principal, _MANAGE[kind], "manage-operations")
    document = body.model_dump()
    return json_response(await ops.create_operation(ctx.store, kind, owner_id, document))


async def update_operation(
    kind: str, owner_id: str, operation_id: str, body: OperationUpdate, request: Request
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, kind, owner_id)
    require_all(principal, _MANAGE[kind], "manage-operations")
    changes = body.model_dump(exclude_unset=True)
    refuse_nulls(changes, ("name", "type", "popupResult", "runOnReadWritePropertyModification"))
    document = await ops.update_operation(ctx.store, kind, owner_id, operation_id, changes)
    return json_response(document)


async def delete_operation(
    kind: str, owner_id: str, operation_id: str, request: Request
) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    await visible_entity(ctx.store, principal, kind, owner_id)
    require_all(principal, _MANAGE[kind], "manage-operations")
    await ops.delete_operation(ctx.store, kind, owner_id, operation_id)
    return empty_response()


def _declare(kind: str) -> None:
    base = f"/{_PLURAL[kind]}/{{{kind}_id}}/operations"
    tags = [_PLURAL[kind]]
    inherited = " (own and inherited from its class)" if kind != "class" else ""
    router.add_api_route(
        base,
        for_kind(list_operations, kind),
        methods=["GET"],
        tags=tags,
        name=f"list_{kind}_operations",
        summary=f"Operations of a {kind}{inherited}",
        response_model=None,
        responses={200: {"model": list[OperationView]}, **error_responses(401, 404)},
    )
    router.add_api_route(
        base,
        for_kind(create_operation, kind),
        methods=["POST"],
        tags=tags,
        name=f"create_{kind}_operation",
        summary=f"Add an operation to a {kind}",
        response_model=None,
        responses={200: {"model": OperationModel}, **error_responses(400, 401, 403, 404, 413)},
    )
    router.add_api_route(
        base + "/{operation_id}",
        for_kind(update_operation, kind),
        methods=["PATCH"],
        tags=tags,
        name=f"update_{kind}_operation",
        summary=f"Change an operation of a {kind}; type and parameters.type cannot change",
        response_model=None,
        responses={200: {"model": OperationModel}, **error_responses(400, 401, 403, 404, 413)},
    )
    router.add_api_route(
        base + "/{operation_id}",
        for_kind(delete_operation, kind),
        methods=["DELETE"],
        tags=tags,
        name=f"delete_{kind}_operation",
        summary=f"Delete an operation of a {kind}; its jobs stay",
        response_model=None,
        responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
    )


for _kind in _PLURAL:
    _declare(_kind)
