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
from ..cookies import clear_session_cookies, set_session_cookies
from ..guards import holds_any, require_any
from ..models import (
    Credentials,
    GroupCreate,
    GroupModel,
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


def router(ctx: Context) -> APIRouter:
    api = APIRouter(route_class=CheckedRoute, tags=["users"])
    store, auth = ctx.store, ctx.auth

    async def hash_password(password: str) -> str:
        return await anyio.to_thread.run_sync(ctx.passwords.hash, password)

    @api.post(
        "/users/session",
        summary="Log in: answers the session ID and sets cookies sid and csrf",
        response_model=None,
        responses={200: {"model": str}, **error_responses(400, 401, 429)},
    )
    async def log_in(body: Credentials, request: Request) -> Response:
        client = auth.peers.address(request)
        principal = await auth.check_password(body.login, body.password, client)
        session = await create_session(store, principal.id, principal.password_hash)
        if session is None:  # the password changed, or the user was blocked, meanwhile
            raise InvalidCredentials()
        response = json_response(session.id)
        set_session_cookies(response, session, tls=auth.peers.is_tls(request))
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
        clear_session_cookies(response, tls=auth.peers.is_tls(request))
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
        summary="All users; without manage-users, each as its ID and display name",
        responses={
            200: {"model": list[UserModel] | list[PublicUserModel]},
            **error_responses(401),
        },
    )
    async def list_users(request: Request) -> Response:
        principal = await auth.authenticate(request)
        public = not holds_any(principal, _MANAGE)
        return json_response(await users.list_users(store, public=public))

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
            display_name=body.displayName,
            contacts=body.contacts,
            language=body.language,
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
        changes = column_changes(given)
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
