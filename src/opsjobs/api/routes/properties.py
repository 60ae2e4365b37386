"""Properties of objects and links (docs/api.md §11): ``/node/api/objects/:id/props`` and
``/node/api/links/:id/props``.

Every route refuses in the guards' order: the entity out of sight is a 404 (so is a property
of it), then the action permission (manage-properties, or manage-objects / manage-links),
then manage-service-properties when the change touches a Service property (SAYMON,
methods/properties).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.users import Principal
from ...store import properties
from ..bodies import CheckedRoute
from ..context import Context
from ..guards import require_any, service_properties_check, visible_entity, visible_object_ref
from ..models import PropertyCreate, PropertyModel, PropertyUpdate, error_responses
from ..responses import empty_response, json_response

router = APIRouter(route_class=CheckedRoute, tags=["properties"])

_MANAGER = {"object": "manage-objects", "link": "manage-links"}
_ONE = {200: {"model": PropertyModel}}
_LIST = {200: {"model": list[PropertyModel]}}
_EMPTY = {200: {"description": "Deleted; empty body"}}


def _context(request: Request) -> Context:
    return request.app.state.context


async def _entity(request: Request, kind: str, entity_id: str) -> tuple[Context, Principal, str]:
    """The context, the caller, and the entity's ID if the caller may see it (404)."""
    ctx = _context(request)
    principal = await ctx.auth.authenticate(request)
    if kind == "object":
        entity_id = await visible_object_ref(ctx.store, principal, entity_id)
    else:
        await visible_entity(ctx.store, principal, kind, entity_id)
    return ctx, principal, entity_id


async def _managed(request: Request, kind: str, entity_id: str):
    ctx, principal, entity_id = await _entity(request, kind, entity_id)
    require_any(principal, "manage-properties", _MANAGER[kind])
    return ctx, principal, entity_id


async def _list(request: Request, kind: str, entity_id: str) -> Response:
    ctx, _, entity_id = await _entity(request, kind, entity_id)
    return json_response(await properties.list_properties(ctx.store, kind, entity_id))


async def _add(request: Request, kind: str, entity_id: str, body: PropertyCreate) -> Response:
    ctx, principal, entity_id = await _managed(request, kind, entity_id)
    record = await properties.add_property(
        ctx.store,
        kind,
        entity_id,
        body.model_dump(),
        user_id=principal.id,
        on_service=service_properties_check(principal),
    )
    return json_response(record)


async def _update(
    request: Request, kind: str, entity_id: str, prop_id: str, body: PropertyUpdate
) -> Response:
    ctx, principal, entity_id = await _managed(request, kind, entity_id)
    record = await properties.update_property(
        ctx.store,
        kind,
        entity_id,
        prop_id,
        body.model_dump(exclude_unset=True),
        user_id=principal.id,
        on_service=service_properties_check(principal),
    )
    return json_response(record)


async def _delete(request: Request, kind: str, entity_id: str, prop_id: str) -> Response:
    ctx, principal, entity_id = await _managed(request, kind, entity_id)
    await properties.delete_property(
        ctx.store, kind, entity_id, prop_id, on_service=service_properties_check(principal)
    )
    return empty_response()


# -- objects --------------------------------------------------------------------------------


@router.get(
    "/objects/{object_id}/props",
    response_model=None,
    responses={**_LIST, **error_responses(401, 404)},
)
async def list_object_properties(object_id: str, request: Request) -> Response:
    return await _list(request, "object", object_id)


@router.post(
    "/objects/{object_id}/props",
    response_model=None,
    responses={**_ONE, **error_responses(400, 401, 403, 404, 413)},
)
async def create_object_property(
    object_id: str, body: PropertyCreate, request: Request
) -> Response:
    return await _add(request, "object", object_id, body)


@router.patch(
    "/objects/{object_id}/props/{prop_id}",
    response_model=None,
    responses={**_ONE, **error_responses(400, 401, 403, 404, 413)},
)
async def update_object_property(
    object_id: str, prop_id: str, body: PropertyUpdate, request: Request
) -> Response:
    return await _update(request, "object", object_id, prop_id, body)


@router.delete(
    "/objects/{object_id}/props/{prop_id}",
    response_model=None,
    responses={**_EMPTY, **error_responses(401, 403, 404)},
)
async def delete_object_property(object_id: str, prop_id: str, request: Request) -> Response:
    return await _delete(request, "object", object_id, prop_id)


# -- links ----------------------------------------------------------------------------------


@router.get(
    "/links/{link_id}/props", response_model=None, responses={**_LIST, **error_responses(401, 404)}
)
async def list_link_properties(link_id: str, request: Request) -> Response:
    return await _list(request, "link", link_id)


@router.post(
    "/links/{link_id}/props",
    response_model=None,
    responses={**_ONE, **error_responses(400, 401, 403, 404, 413)},
)
async def create_link_property(link_id: str, body: PropertyCreate, request: Request) -> Response:
    return await _add(request, "link", link_id, body)


@router.patch(
    "/links/{link_id}/props/{prop_id}",
    response_model=None,
    responses={**_ONE, **error_responses(400, 401, 403, 404, 413)},
)
async def update_link_property(
    link_id: str, prop_id: str, body: PropertyUpdate, request: Request
) -> Response:
    return await _update(request, "link", link_id, prop_id, body)


@router.delete(
    "/links/{link_id}/props/{prop_id}",
    response_model=None,
    responses={**_EMPTY, **error_responses(401, 403, 404)},
)
async def delete_link_property(link_id: str, prop_id: str, request: Request) -> Response:
    return await _delete(request, "link", link_id, prop_id)
