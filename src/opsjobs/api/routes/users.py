"""Users and their API tokens (docs/api.md §14); sessions and groups have modules of their own."""

from __future__ import annotations

import secrets

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.errors import NotFound
from ...domain.ids import is_object_id
from ...store import users
from ..bodies import CheckedRoute
from ..context import Context, context
from ..guards import holds_any, require_any
from ..models import (
    PublicUserModel,
    UserCreate,
    UserModel,
    UserUpdate,
    error_responses,
)
from ..responses import empty_response, json_response
from ..user_changes import column_changes

_MANAGE = "manage-users"


def _known_user(user_id: str) -> str:
    if not is_object_id(user_id):
        raise NotFound.entity("User", user_id)
    return user_id


router = APIRouter(route_class=CheckedRoute, tags=["users"])


async def _hash_password(ctx: Context, password: str) -> str:
    return await anyio.to_thread.run_sync(ctx.passwords.hash, password)


@router.get(
    "/users/current",
    response_model=None,
    responses={200: {"model": UserModel}, **error_responses(401, 429)},
)
async def current_user(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    return json_response(await users.get_user(ctx.store, principal.id))


@router.get(
    "/users",
    response_model=None,
    summary="All users; without manage-users, each as its ID and display name",
    responses={
        200: {"model": list[UserModel] | list[PublicUserModel]},
        **error_responses(401),
    },
)
async def list_users(request: Request) -> Response:
    ctx = context(request)
    principal = await ctx.auth.authenticate(request)
    public = not holds_any(principal, _MANAGE)
    return json_response(await users.list_users(ctx.store, public=public))


@router.post(
    "/users",
    response_model=None,
    responses={200: {"model": UserModel}, **error_responses(400, 401, 403, 409, 413)},
)
async def create_user(body: UserCreate, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    document = await users.create_user(
        ctx.store,
        login=body.login,
        password_hash=await _hash_password(ctx, body.password),
        name=body.name,
        email=body.email,
        status=body.status,
        active_to=body.activeTo,
        permissions=body.permissions,
        include=body.objectPermissions.include,
        exclude=body.objectPermissions.exclude,
        group_ids=body.groups,
        display_name=body.displayName,
        contacts=body.contacts,
        language=body.language,
    )
    return json_response(document)


@router.get(
    "/users/{user_id}",
    response_model=None,
    responses={200: {"model": UserModel}, **error_responses(401, 403, 404)},
)
async def get_user(user_id: str, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    return json_response(await users.get_user(ctx.store, _known_user(user_id)))


@router.patch(
    "/users/{user_id}",
    response_model=None,
    responses={200: {"model": UserModel}, **error_responses(400, 401, 403, 404, 409, 413)},
)
async def update_user(user_id: str, body: UserUpdate, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    given = body.model_dump(exclude_unset=True)
    changes = column_changes(given)
    if given.get("password") is not None:
        changes["password_hash"] = await _hash_password(ctx, given["password"])
    return json_response(await users.update_user(ctx.store, _known_user(user_id), changes))


@router.delete(
    "/users/{user_id}",
    response_model=None,
    responses={200: {"description": "Deleted"}, **error_responses(401, 403, 404)},
)
async def delete_user(user_id: str, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    await users.delete_user(ctx.store, _known_user(user_id))
    return empty_response()


@router.post(
    "/users/{user_id}/auth-token",
    summary="Issue a new API token (the previous one stops working)",
    response_model=None,
    responses={200: {"model": str}, **error_responses(401, 403, 404)},
)
async def issue_token(user_id: str, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    token = secrets.token_hex(20)
    await users.set_token(ctx.store, _known_user(user_id), token)
    return json_response(token)


@router.delete(
    "/users/{user_id}/auth-token",
    summary="Revoke the API token",
    response_model=None,
    responses={200: {"description": "Revoked"}, **error_responses(401, 403, 404)},
)
async def revoke_token(user_id: str, request: Request) -> Response:
    ctx = context(request)
    require_any(await ctx.auth.authenticate(request), _MANAGE)
    await users.set_token(ctx.store, _known_user(user_id), None)
    return empty_response()
