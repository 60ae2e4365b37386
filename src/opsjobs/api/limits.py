"""Request bodies: JSON whatever the client declared, and refused over the configured size."""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import PayloadTooLarge


class BodyLimit:
    """A declared Content-Length over the limit is refused before the app runs; a body that
    grows past it while streaming (chunked) stops being read and is refused the same way."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        # The API speaks only JSON; clients such as plain `curl -d` send a form content type
        # with a JSON body, and SAYMON reads it as JSON all the same.
        scope = dict(scope)
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
        scope["headers"].append((b"content-type", b"application/json"))
        received = 0
        too_large = started = False

        async def limited_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    too_large = True
                    raise self._error()
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app makes of the interrupted read (FastAPI turns it into a 400),
            # the answer to a body over the limit is ours: 413.
            nonlocal started
            if too_large:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not too_large or started:
                raise
        if too_large and not started:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        error = self._error()
        body = orjson.dumps({"code": error.code, "message": error.message})
        await send(
            {
                "type": "http.response.start",
                "status": error.status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
