"""Sessions (docs/api.md §3): logging in answers a session ID and sets cookies ``sid`` and
``csrf``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from ...domain.errors import BadRequest, InvalidCredentials
from ...domain.users import Principal
from ...store.sessions import create_session, end_session
from ..audit import note_principal, record
from ..bodies import CheckedRoute
from ..context import context
from ..cookies import clear_session_cookies, set_session_cookies
from ..csrf import check_log_in_site
from ..models import Credentials, error_responses
from ..responses import empty_response, json_response

# app.py includes this router ahead of users.py's, whose /users/{user_id} would take
# /users/session.
router = APIRouter(route_class=CheckedRoute, tags=["users"])


@router.post(
    "/users/session",
    summary="Log in: answers the session ID and sets cookies sid and csrf",
    response_model=None,
    responses={200: {"model": str}, **error_responses(400, 401, 403, 429)},
)
async def log_in(body: Credentials, request: Request) -> Response:
    check_log_in_site(request)
    ctx = context(request)
    principal = note_principal(request, await _who(ctx, body, request))
    session = await create_session(ctx.store, principal.id, principal.password_hash)
    method = "token" if body.auth_token is not None else "password"
    if session is None:  # the password changed, or the user was blocked, meanwhile
        record(request, "auth.login", target=("user", principal.id), status=401,
               detail={"method": method})  # fmt: skip
        raise InvalidCredentials()
    # A failed log-in is recorded by auth.py, where every credential is checked.
    record(request, "auth.login", target=("user", principal.id), detail={"method": method})
    response = json_response(session.id)
    set_session_cookies(response, session, tls=ctx.auth.peers.is_tls(request))
    return response


async def _who(ctx, body: Credentials, request: Request) -> Principal:
    """The user logging in: by an API token, or by login and password (both needed then)."""
    if body.auth_token is not None:
        if body.login is not None or body.password is not None:
            raise BadRequest("auth-token: send either a token or a login and password")
        return await ctx.auth.check_token(body.auth_token, request)
    for name in ("login", "password"):
        if getattr(body, name) is None:
            raise BadRequest(f"{name}: Field required")
    client = ctx.auth.peers.address(request)
    return await ctx.auth.check_password(body.login, body.password, client)


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
    clear_session_cookies(response, tls=ctx.auth.peers.is_tls(request))
    return response
