"""The session's cookies: ``sid`` (the session) and ``csrf`` (its CSRF token, csrf.py)."""

from __future__ import annotations

from starlette.responses import Response

from ..store.sessions import NewSession
from .csrf import COOKIE as CSRF_COOKIE

SESSION_COOKIE = "sid"


def _flags(tls: bool) -> dict:
    # Not sent with requests other sites start, except plain navigation; over TLS (directly
    # or from a trusted proxy), never sent without it. No Max-Age: the server ends the session
    # after its idle time; a cookie that expired on its own would log out a client in
    # constant use.
    return {"path": "/", "samesite": "lax", "secure": tls}


def set_session_cookies(response: Response, session: NewSession, *, tls: bool) -> None:
    # sid is not readable by scripts; csrf must be, so that the page can echo it in a header.
    response.set_cookie(SESSION_COOKIE, session.id, httponly=True, **_flags(tls))
    response.set_cookie(CSRF_COOKIE, session.csrf, httponly=False, **_flags(tls))


def clear_session_cookies(response: Response, *, tls: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, **_flags(tls))
    response.delete_cookie(CSRF_COOKIE, httponly=False, **_flags(tls))
