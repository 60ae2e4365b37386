"""Sessions (docs/api.md §3): logging in answers a session ID and sets cookie ``sid``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.errors import InvalidCredentials
from ...store.sessions import create_session, end_session
from ..bodies import CheckedRoute
from ..context import Context, context
from ..models import Credentials, error_responses
from ..responses import empty_response, json_response

# app.py includes this router ahead of users.py's, whose /users/{user_id} would take
# /users/session.
router = APIRouter(route_class=CheckedRoute, tags=["users"])


def _cookie_flags(ctx: Context, request: Request) -> dict:
    # Not readable by scripts; not sent with requests other sites start, except plain
    # navigation; over TLS (directly or from a trusted proxy), never sent without it.
    return {"httponly": True, "samesite": "lax", "secure": ctx.auth.peers.is_tls(request)}


@router.post(
    "/users/session",
    summary="Log in: answers the session ID and sets cookie sid",
    response_model=None,
    responses={200: {"model": str}, **error_responses(400, 401, 429)},
)
async def log_in(body: Credentials, request: Request) -> Response:
    ctx = context(request)
    client = ctx.auth.peers.address(request)
    principal = await ctx.auth.check_password(body.login, body.password, client)
    session_id = await create_session(ctx.store, principal.id, principal.password_hash)
    if session_id is None:  # the password changed, or the user was blocked, meanwhile
        raise InvalidCredentials()
    response = json_response(session_id)
    # No Max-Age: the server ends the session after its idle time; a cookie that expired
    # on its own would log out a client in constant use.
    response.set_cookie("sid", session_id, path="/", **_cookie_flags(ctx, request))
    return response


@router.delete(
    "/users/session",
    summary="Log out",
    response_model=None,
    responses={200: {"description": "Session ended"}, **error_responses(401)},
)
async def log_out(request: Request) -> Response:
    ctx = context(request)
    await ctx.auth.authenticate(request)
    session_id = request.cookies.get("sid")
    if session_id:
        await end_session(ctx.store, session_id)
    response = empty_response()
    response.delete_cookie("sid", path="/", **_cookie_flags(ctx, request))
    return response
