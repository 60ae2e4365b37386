"""The request's URL: a path or query that no identifier or parameter could hold is refused
with 400 before any route reads it.

A NUL (``%00``) cannot be stored in PostgreSQL text, nor passed in a C string; a path that is
not valid UTF-8 once decoded (``%ED%A0%80``, a lone surrogate) cannot be sent to the
database either. Both would otherwise reach SQL as an ID or a filter and fail there.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from ..domain.errors import BadRequest
from .errors import send_error


def refusal(scope: Scope) -> BadRequest | None:
    path: str = scope["path"]
    if "\0" in path:
        return BadRequest("URL path: must not contain NUL characters")
    try:
        path.encode()
    except UnicodeEncodeError:
        return BadRequest("URL path: not valid UTF-8")
    query: bytes = scope.get("query_string", b"")
    if b"\0" in query or b"%00" in query:
        return BadRequest("URL query: must not contain NUL characters")
    return None


class CheckedUrl:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = refusal(scope) if scope["type"] == "http" else None
        if refused is None:
            await self.app(scope, receive, send)
            return
        await send_error(send, refused)
