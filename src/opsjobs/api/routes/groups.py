"""Groups of users (docs/api.md §14): permissions and object access that members share."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...store import users
from ..bodies import CheckedRoute
from ..context import context
from ..guards import require_any
from ..models import GroupCreate, GroupModel, error_responses
from ..responses import json_response

_MANAGE = "manage-users"

router = APIRouter(route_class=CheckedRoute, tags=["users"])


@router.get(
    "/groups",
    tags=["groups"],
    response_model=None,
    responses={200: {"model": list[GroupModel]}, **error_responses(401, 403)},
)
async def list_groups(request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    return json_response(await users.list_groups(ctx.store))


@router.post(
    "/groups",
    tags=["groups"],
    response_model=None,
    responses={200: {"model": GroupModel}, **error_responses(400, 401, 403, 409, 413)},
)
async def create_group(body: GroupCreate, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    document = await users.create_group(
        ctx.store,
        name=body.name,
        permissions=body.permissions,
        include=body.objectPermissions.include,
        exclude=body.objectPermissions.exclude,
    )
    return json_response(document)
