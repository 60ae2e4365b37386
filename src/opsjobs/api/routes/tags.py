"""Tags (docs/api.md §11): ``/node/api/tags``. Objects and links carry tags by ID in their
``tags`` field, set through ``POST``/``PATCH`` of the entity."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.users import Principal
from ...store import tags
from ..bodies import CheckedRoute
from ..context import Context
from ..guards import may_change_carriers, require_any
from ..models import TagCreate, TagModel, error_responses
from ..responses import empty_response, json_response

router = APIRouter(route_class=CheckedRoute, tags=["tags"])

# Whoever may label an entity may make the label; renaming or deleting one changes every
# entity that carries it, so that is for those who manage objects or links, and who may
# change each entity that carries it (guards.may_change_carriers; opsjobs decision).
_LABELLERS = (
    "create-objects",
    "modify-objects",
    "manage-objects",
    "create-links",
    "modify-links",
    "manage-links",
)
_MANAGERS = ("manage-objects", "manage-links")


async def _caller(request: Request) -> tuple[Context, Principal]:
    ctx: Context = request.app.state.context
    return ctx, await ctx.auth.authenticate(request)


@router.get(
    "/tags",
    response_model=None,
    responses={200: {"model": list[TagModel]}, **error_responses(401)},
)
async def list_tags(request: Request) -> Response:
    ctx, _ = await _caller(request)
    return json_response(await tags.tag_documents(ctx.store))


@router.post(
    "/tags",
    response_model=None,
    responses={200: {"model": TagModel}, **error_responses(400, 401, 403, 409, 413)},
)
async def create_tag(body: TagCreate, request: Request) -> Response:
    ctx, principal = await _caller(request)
    require_any(principal, *_LABELLERS)
    return json_response(await tags.create_tag(ctx.store, body.name))


@router.get(
    "/tags/{tag_id}",
    response_model=None,
    responses={200: {"model": TagModel}, **error_responses(401, 404)},
)
async def get_tag(tag_id: str, request: Request) -> Response:
    ctx, _ = await _caller(request)
    return json_response(await tags.tag_document(ctx.store, tag_id))


@router.patch(
    "/tags/{tag_id}",
    response_model=None,
    responses={200: {"model": TagModel}, **error_responses(400, 401, 403, 404, 409, 413)},
)
async def rename_tag(tag_id: str, body: TagCreate, request: Request) -> Response:
    ctx, principal = await _caller(request)
    await tags.tag_document(ctx.store, tag_id)  # catalogue: existence before permissions
    require_any(principal, *_MANAGERS)
    carriers = may_change_carriers(ctx.store, principal)
    return json_response(await tags.rename_tag(ctx.store, tag_id, body.name, may_change=carriers))


@router.delete(
    "/tags/{tag_id}",
    response_model=None,
    responses={200: {"description": "Deleted; empty body"}, **error_responses(401, 403, 404)},
)
async def delete_tag(tag_id: str, request: Request) -> Response:
    ctx, principal = await _caller(request)
    await tags.tag_document(ctx.store, tag_id)  # catalogue: existence before permissions
    require_any(principal, *_MANAGERS)
    await tags.delete_tag(ctx.store, tag_id, may_change=may_change_carriers(ctx.store, principal))
    return empty_response()
