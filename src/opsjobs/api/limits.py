"""Request bodies: JSON whatever the client declared, refused over the configured size or
when they take too long to arrive."""

from __future__ import annotations

import asyncio

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain.errors import OpsjobsError, PayloadTooLarge, RequestTimeout


class _Refused(Exception):
    """Raised into the app's read of the body; the app's answer is then replaced by ours."""


class BodyLimit:
    """A declared Content-Length over the limit is refused before the app runs; a body that
    grows past it while streaming (chunked) stops being read and is refused the same way.

    A body must also arrive whole within ``timeout_seconds`` of the request's start: a client
    that sends its headers and then trickles or stalls its body would otherwise hold the
    request (and its connection) for as long as it likes. It is answered 408, and the
    connection is closed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"Request body is larger than {self.max_bytes} bytes")

    def _too_slow(self) -> RequestTimeout:
        return RequestTimeout(f"Request body did not arrive within {self.timeout_seconds:g} s")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _refuse(send, self._too_large())
                return
        # The API speaks only JSON; clients such as plain `curl -d` send a form content type
        # with a JSON body, and SAYMON reads it as JSON all the same.
        scope = dict(scope)
        scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"content-type"]
        scope["headers"].append((b"content-type", b"application/json"))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_seconds
        received = 0
        body_done = started = False
        refused: OpsjobsError | None = None

        async def limited_receive() -> Message:
            nonlocal received, body_done, refused
            if refused is not None:
                raise _Refused()
            if body_done:  # after the body: a disconnect, whenever it comes
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                refused = self._too_slow()
                raise _Refused() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = self._too_large()
                    raise _Refused()
                body_done = not message.get("more_body", False)
            return message

        async def guarded_send(message: Message) -> None:
            # Whatever the app makes of the interrupted read (FastAPI turns it into a 400),
            # the answer to a body refused here is ours.
            nonlocal started
            if refused is not None:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if refused is None or started:
                raise
        if refused is not None and not started:
            await _refuse(send, refused)


async def _refuse(send: Send, error: OpsjobsError) -> None:
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
