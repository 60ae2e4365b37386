"""Users, groups, sessions and API tokens (docs/api.md §3, §14)."""

from __future__ import annotations

import secrets

import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.errors import InvalidCredentials, NotFound
from ...domain.ids import is_object_id
from ...store import users
from ...store.sessions import create_session, end_session
from ..bodies import CheckedRoute
from ..context import Context
from ..guards import require_any
from ..models import (
    Credentials,
    GroupCreate,
    GroupModel,
    UserCreate,
    UserModel,
    UserUpdate,
    error_responses,
)
from ..responses import empty_response, json_response

_MANAGE = "manage-users"


def _known_user(user_id: str) -> str:
    if not is_object_id(user_id):
        raise NotFound.entity("User", user_id)
    return user_id


def router(ctx: Context) -> APIRouter:
    api = APIRouter(route_class=CheckedRoute, tags=["users"])
    store, auth = ctx.store, ctx.auth

    async def hash_password(password: str) -> str:
        return await anyio.to_thread.run_sync(ctx.passwords.hash, password)

    def _cookie_flags(request: Request) -> dict:
        # Not readable by scripts; not sent with requests other sites start, except plain
        # navigation; over TLS (directly or from a trusted proxy), never sent without it.
        return {"httponly": True, "samesite": "lax", "secure": auth.peers.is_tls(request)}

    @api.post(
        "/users/session",
        summary="Log in: answers the session ID and sets cookie sid",
        response_model=None,
        responses={200: {"model": str}, **error_responses(400, 401, 429)},
    )
    async def log_in(body: Credentials, request: Request) -> Response:
        client = auth.peers.address(request)
        principal = await auth.check_password(body.login, body.password, client)
        session_id = await create_session(store, principal.id, principal.password_hash)
        if session_id is None:  # the password changed, or the user was blocked, meanwhile
            raise InvalidCredentials()
        response = json_response(session_id)
        # No Max-Age: the server ends the session after its idle time; a cookie that expired
        # on its own would log out a client in constant use.
        response.set_cookie("sid", session_id, path="/", **_cookie_flags(request))
        return response

    @api.delete(
        "/users/session",
        summary="Log out",
        response_model=None,
        responses={200: {"description": "Session ended"}, **error_responses(401)},
    )
    async def log_out(request: Request) -> Response:
        await auth.authenticate(request)
        session_id = request.cookies.get("sid")
        if session_id:
            await end_session(store, session_id)
        response = empty_response()
        response.delete_cookie("sid", path="/", **_cookie_flags(request))
        return response

    @api.get(
        "/users/current",
        response_model=None,
        responses={200: {"model": UserModel}, **error_responses(401, 429)},
    )
    async def current_user(request: Request) -> Response:
        principal = await auth.authenticate(request)
        return json_response(await users.get_user(store, principal.id))

    @api.get(
        "/users",
        response_model=None,
        responses={200: {"model": list[UserModel]}, **error_responses(401, 403)},
    )
    async def list_users(request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        return json_response(await users.list_users(store))

    @api.post(
        "/users",
        response_model=None,
        responses={200: {"model": UserModel}, **error_responses(400, 401, 403, 409, 413)},
    )
    async def create_user(body: UserCreate, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        document = await users.create_user(
            store,
            login=body.login,
            password_hash=await hash_password(body.password),
            name=body.name,
            email=body.email,
            status=body.status,
            active_to=body.activeTo,
            permissions=body.permissions,
            include=body.objectPermissions.include,
            exclude=body.objectPermissions.exclude,
            group_ids=body.groups,
        )
        return json_response(document)

    @api.get(
        "/users/{user_id}",
        response_model=None,
        responses={200: {"model": UserModel}, **error_responses(401, 403, 404)},
    )
    async def get_user(user_id: str, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        return json_response(await users.get_user(store, _known_user(user_id)))

    @api.patch(
        "/users/{user_id}",
        response_model=None,
        responses={200: {"model": UserModel}, **error_responses(400, 401, 403, 404, 409, 413)},
    )
    async def update_user(user_id: str, body: UserUpdate, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        given = body.model_dump(exclude_unset=True)
        changes: dict = {}
        for field in ("login", "name", "email", "status"):
            if given.get(field) is not None:
                changes[field] = given[field]
        if "activeTo" in given:
            changes["active_to"] = given["activeTo"]
        if given.get("permissions") is not None:
            changes["permissions"] = given["permissions"]
        if given.get("groups") is not None:
            changes["group_ids"] = given["groups"]
        if given.get("objectPermissions") is not None:
            changes["include"] = body.objectPermissions.include
            changes["exclude"] = body.objectPermissions.exclude
        if given.get("password") is not None:
            changes["password_hash"] = await hash_password(given["password"])
        return json_response(await users.update_user(store, _known_user(user_id), changes))

    @api.delete(
        "/users/{user_id}",
        response_model=None,
        responses={200: {"description": "Deleted"}, **error_responses(401, 403, 404)},
    )
    async def delete_user(user_id: str, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        await users.delete_user(store, _known_user(user_id))
        return empty_response()

    @api.post(
        "/users/{user_id}/auth-token",
        summary="Issue a new API token (the previous one stops working)",
        response_model=None,
        responses={200: {"model": str}, **error_responses(401, 403, 404)},
    )
    async def issue_token(user_id: str, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        token = secrets.token_hex(20)
        await users.set_token(store, _known_user(user_id), token)
        return json_response(token)

    @api.delete(
        "/users/{user_id}/auth-token",
        summary="Revoke the API token",
        response_model=None,
        responses={200: {"description": "Revoked"}, **error_responses(401, 403, 404)},
    )
    async def revoke_token(user_id: str, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        await users.set_token(store, _known_user(user_id), None)
        return empty_response()

    @api.get(
        "/groups",
        tags=["groups"],
        response_model=None,
        responses={200: {"model": list[GroupModel]}, **error_responses(401, 403)},
    )
    async def list_groups(request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        return json_response(await users.list_groups(store))

    @api.post(
        "/groups",
        tags=["groups"],
        response_model=None,
        responses={200: {"model": GroupModel}, **error_responses(400, 401, 403, 409, 413)},
    )
    async def create_group(body: GroupCreate, request: Request) -> Response:
        require_any(await auth.authenticate(request), _MANAGE)
        document = await users.create_group(
            store,
            name=body.name,
            permissions=body.permissions,
            include=body.objectPermissions.include,
            exclude=body.objectPermissions.exclude,
        )
        return json_response(document)

    return api
